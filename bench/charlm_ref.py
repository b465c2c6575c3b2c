#!/usr/bin/python3
"""charlm_ref.py - the PyTorch reference of nanoGPT's CPU recipe for Tiny
Shakespeare (issue 16), the model of sessions/charlm-nanogpt.sl written as
karpathy/nanoGPT's model.py and train.py write it, for bench/charlm.sh.

The model is seqlab's `gpt layers=4 heads=4 hidden=128 mlp=4 pe=learned
dropout=0`, parameter for parameter (816,193 on the 65 characters of Tiny
Shakespeare): token and learned position embeddings, 4 pre-LayerNorm blocks
(LayerNorm with bias, eps 1e-5; causal self-attention whose query, key,
value and output projections have no bias; an MLP 128 -> 512 -> 128 with
biases and the exact GELU), a final LayerNorm and a read-out with a bias,
not tied to the embedding. nanoGPT's own model differs in two ways seqlab's
does not follow: it ties the read-out to the token embedding, and with
bias=False (train.py's default) has no biases at all (~0.80 M parameters).
The code is nanoGPT's: one c_attn projection for q, k and v,
F.scaled_dot_product_attention(is_causal=True) where PyTorch has it (2.0
and later) and otherwise nanoGPT's own fallback (the masked softmax over a
lower-triangular buffer, "slow attention" in its words: Debian 12's
PyTorch 1.13 has no scaled_dot_product_attention, so this is what runs
there; the output line says which, attention=sdpa|manual).
No dropout. Initialisation as seqlab's (PyTorch's nn.Linear and
nn.Embedding defaults: uniform +-1/sqrt(in), N(0, 1); positions N(0, 0.02)).

The recipe (nanoGPT's config/train_shakespeare_char.py with its README's
CPU settings): context 64, batch 12, AdamW lr 1e-3, betas (0.9, 0.99),
eps 1e-8, weight decay 0.1 on the matrices and the token embedding (not on
biases, LayerNorms and positions, as seqlab decays), the gradient clipped
at norm 1, warm-up lr*(it+1)/warmup for `warmup` iterations then cosine to
1e-4 at the last iteration (seqlab's schedule; nanoGPT's warm-up differs
slightly). The data as nanoGPT's data/shakespeare_char/prepare.py
makes it: the characters of the text, sorted; the first 90 % train, the
last 10 % validation; training batches are random windows (torch.randint,
from --seed).

  charlm_ref.py [-f TEXT] [-n ITERS] [-j THREADS] [--blas-threads N]
                [--warmup W] [--eval CHARS] [--seed S]

trains ITERS iterations (default 2000), then scores the validation loss as
seqlab's task charlm does (the mean cross-entropy per character, in nats,
over consecutive windows of 64 from the start of the validation split,
the first CHARS characters: 65536, sessions/charlm-nanogpt.sl's eval=),
and prints one line

  torch_model=gpt torch_threads=2 torch_blas_threads=1 params=816193 iters=2000
    seconds=... ms_iter=... last_loss=... val_loss=... val_bpc=... attention=sdpa|manual
    torch_version=...

seconds: the training iterations only (batches drawn, forward, backward,
clipping, AdamW), not the evaluation. Threads as bench/torch_ref.py sets
them: OMP_NUM_THREADS and MKL_NUM_THREADS to THREADS, OPENBLAS_NUM_THREADS
to --blas-threads (default 1), before torch is imported.
Run it with /usr/bin/python3 (Debian's python3-torch and python3-numpy).
"""
import argparse
import math
import os
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch reference of nanoGPT's CPU recipe (seqlab's gpt)")
    p.add_argument("-f", "--file", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "..", "..", "shared", "data", "tinyshakespeare.txt"))
    p.add_argument("-n", "--iters", type=int, default=2000)
    p.add_argument("-j", "--threads", type=int, default=1)
    p.add_argument("--blas-threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval", type=int, default=65536)
    p.add_argument("--seed", type=int, default=1337)
    a = p.parse_args(argv)
    if a.iters < 1:
        p.error("-n must be >= 1")
    if not 0 <= a.warmup < a.iters:
        p.error("--warmup must be in [0, iters) (seqlab's cosine schedule needs total > warmup)")
    return a


ARGS = parse_args(sys.argv[1:])
# before torch (and its OpenMP and BLAS) is loaded
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)


# ---- the model: nanoGPT's model.py, with seqlab's gpt's parameters --------------

class GPTConfig:
    def __init__(self, vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128):
        self.vocab_size, self.block_size = vocab_size, block_size
        self.n_layer, self.n_head, self.n_embd = n_layer, n_head, n_embd


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # key, query, value projections for all heads, in a batch (no bias: seqlab's attention has none)
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        # the output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        # flash attention where PyTorch >= 2.0 has it
        self.flash = hasattr(torch.nn.functional, 'scaled_dot_product_attention')
        if not self.flash:
            # the causal mask: only the left of the input sequence is attended to
            self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                 .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if self.flash:
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0,
                                                                 is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            y = att @ v  # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.c_proj(y)


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU()  # exact (erf), as seqlab's
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=1e-5)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # N(0, 1), as seqlab's emb
            wpe=nn.Embedding(config.block_size, config.n_embd),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=1e-5),
        ))
        # seqlab's gpt keeps the read-out apart from the embedding, with a bias
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        torch.nn.init.normal_(self.transformer.wpe.weight, mean=0.0, std=0.02)  # seqlab's pos

    def get_num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of {t} > block size {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long)  # shape (t)
        tok_emb = self.transformer.wte(idx)  # (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # (t, n_embd)
        x = tok_emb + pos_emb
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        # decay the matrices and the token embedding; not biases, LayerNorms and positions (seqlab's groups;
        # nanoGPT decays every tensor of 2 or more dimensions, positions included)
        decay, nodecay = [], []
        for n, p in self.named_parameters():
            (decay if p.dim() >= 2 and n != "transformer.wpe.weight" else nodecay).append(p)
        groups = [{'params': decay, 'weight_decay': weight_decay}, {'params': nodecay, 'weight_decay': 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=1e-8)


# ---- the data: nanoGPT's data/shakespeare_char/prepare.py and get_batch --------

def load(path):
    with open(path, 'r', encoding='utf-8') as f:
        data = f.read()
    chars = sorted(list(set(data)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = np.array([stoi[c] for c in data], dtype=np.int64)
    n = len(ids)
    return torch.from_numpy(ids[:int(n * 0.9)]), torch.from_numpy(ids[int(n * 0.9):]), len(chars)


def get_batch(data, block_size, batch_size):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    return x, y


def get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """seqlab's sched=cosine: warm-up lr*(it+1)/warmup, then cosine from lr to min_lr at lr_decay_iters"""
    if it < warmup_iters:
        return learning_rate * (it + 1) / warmup_iters
    span = lr_decay_iters - warmup_iters
    ratio = min(1.0, (it - warmup_iters) / span) if span > 0 else 1.0
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


@torch.no_grad()
def val_loss(model, val, block_size, chars, chunk=64):
    """task charlm's eval: consecutive windows of block_size from the start of the split, `chars` characters"""
    model.eval()
    nwin = (len(val) - 1) // block_size
    nwin = min(nwin, chars // block_size)
    total, count = 0.0, 0
    for w0 in range(0, nwin, chunk):
        B = min(chunk, nwin - w0)
        x = torch.stack([val[(w0 + i) * block_size:(w0 + i + 1) * block_size] for i in range(B)])
        y = torch.stack([val[(w0 + i) * block_size + 1:(w0 + i + 1) * block_size + 1] for i in range(B)])
        logits, _ = model(x)
        total += float(F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), reduction='sum'))
        count += y.numel()
    model.train()
    return total / count


def main(a):
    block_size, batch_size = 64, 12
    learning_rate, min_lr, weight_decay, beta1, beta2, grad_clip = 1e-3, 1e-4, 0.1, 0.9, 0.99, 1.0
    torch.manual_seed(a.seed)
    train, val, vocab = load(a.file)
    model = GPT(GPTConfig(vocab, block_size=block_size, n_layer=4, n_head=4, n_embd=128))
    model.train()
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2))
    t0 = time.perf_counter()
    for it in range(a.iters):
        lr = get_lr(it, learning_rate, min_lr, a.warmup, a.iters)
        for g in optimizer.param_groups:
            g['lr'] = lr
        X, Y = get_batch(train, block_size, batch_size)
        _, loss = model(X, Y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    secs = time.perf_counter() - t0
    last = float(loss)
    vl = val_loss(model, val, block_size, a.eval)
    print("torch_model=gpt torch_threads=%d torch_blas_threads=%d params=%d iters=%d seconds=%.3f ms_iter=%.3f"
          " last_loss=%.4f val_loss=%.4f val_bpc=%.4f attention=%s torch_version=%s" %
          (a.threads, a.blas_threads, model.get_num_params(), a.iters, secs, 1e3 * secs / a.iters, last, vl,
           vl / math.log(2), "sdpa" if model.transformer.h[0].attn.flash else "manual", torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
