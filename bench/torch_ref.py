#!/usr/bin/python3
"""torch_ref.py - the PyTorch reference of seqlab's benchmark models, for the
benchmark harness (bench/run.sh) and the cross-check test
(tests/torch_ref.test): on Pig-Latin the encoder-decoder Transformer and the
Mamba prefix LM; on associative recall (seed 004) the decoder-only `gpt`
(softmax or linear attention), Mamba, S4D, the LRU, Hawk and Griffin as
language models, scored at the last position only.

It reads what `bench_models check|time -o DIR` wrote: DIR/init.safetensors
(seqlab's initial parameters, by name, with the model spec, the task and the
AdamW settings in the metadata) and DIR/data.safetensors (the batches, in
order; for recall with embed=fixed also the fixed embedding "embed").

  torch_ref.py check DIR [-j THREADS] [--dtype float64|float32] [--yardstick]
                         [--tol-loss1 R] [--tol-grad R] [--tol-loss R] [--tap]
                         [--scan loop|scan] [--conv fft|direct]
      Runs the same K training steps as seqlab (K from DIR/seqlab.safetensors)
      and compares: the step-1 loss, every step-1 gradient tensor, the losses
      of steps 2..K (relative errors; a gradient's error is the norm of the
      difference over the norm of the reference, ||g - g_ref|| / ||g_ref||).
      The reference runs in float64 by default, so what it measures is
      seqlab's own float32 error; --yardstick also runs it in float32 and
      prints that error next to seqlab's. Prints key=value lines (or TAP
      points with --tap); exit status 1 if a check failed. --scan: the
      formulation of the LRU's and the RG-LRU's recurrences (default loop);
      --conv: of S4D's convolution (default fft).

  torch_ref.py time DIR [-j THREADS] [-w WARMUP] [-n STEPS] [--blas-threads N]
                        [--scan loop|scan|auto] [--conv fft|direct|auto]
      Times STEPS training steps on the batches after WARMUP warm-up steps,
      then (Pig-Latin) greedy `translate` of the words listed in the data
      file, one at a time; prints torch_wps=... torch_ms_step=...
      torch_translate_ms=... torch_rss_mb=... on one line (recall:
      torch_translate_ms=-). Where PyTorch has two formulations of a block,
      the faster runs, each timed first over a few steps (auto, the
      default): the LRU's and RG-LRU's recurrences as a loop over time steps
      or a parallel (Hillis-Steele) scan (--scan), S4D's convolution by FFT
      as the reference computes it or directly as a product with the
      Toeplitz matrix of its kernel (--conv); torch_form= names the choice
      (scan:conv, "-" where a model has neither), torch_form_ms= the trial's
      ms a step of each.

Threads (DESIGN.md section 7): OMP_NUM_THREADS and MKL_NUM_THREADS are set to
THREADS and OPENBLAS_NUM_THREADS to --blas-threads (default 1: PyTorch loses
3-4x on these shapes when OpenBLAS threads too) before torch is imported, and
torch.set_num_threads(THREADS) after.

Run it with /usr/bin/python3 (Debian's python3-torch 1.13 and python3-numpy).
"""
import argparse
import json
import math
import os
import resource
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch reference of seqlab's models")
    p.add_argument("mode", choices=["check", "time"])
    p.add_argument("dir")
    p.add_argument("-j", "--threads", type=int, default=1)
    p.add_argument("--blas-threads", type=int, default=1)
    p.add_argument("-w", "--warmup", type=int, default=None)
    p.add_argument("-n", "--steps", type=int, default=None)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--yardstick", action="store_true")
    p.add_argument("--tol-loss1", type=float, default=1e-5)
    p.add_argument("--tol-grad", type=float, default=1e-4)
    p.add_argument("--tol-loss", type=float, default=1e-4)
    p.add_argument("--tap", action="store_true")
    p.add_argument("--scan", choices=["loop", "scan", "auto"], default=None)
    p.add_argument("--conv", choices=["fft", "direct", "auto"], default=None)
    return p.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
# before torch (and its OpenMP and BLAS) is loaded
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)

VOCAB, SOS, EOS = 29, 27, 28


# ---- safetensors (Debian has no python3-safetensors) ---------------------------

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "U64": "<u8"}


def st_read(path):
    """{name: array} and the metadata of a safetensors file."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return out, meta


def parse_spec(spec):
    """'transformer hidden=64 enc=2 ...' -> ('transformer', {'hidden': '64', ...})"""
    words = spec.split()
    return words[0], dict(w.split("=", 1) for w in words[1:])


# ---- the Transformer (include/seqlab/transformer.h) ------------------------------

class MHA(nn.Module):
    """Q/K/V/O without bias, scores scaled by 1/sqrt(Dh); causal: query i sees keys <= i
    (with window > 0 only the last `window` of them); rope: a function rotating
    queries and keys (B, heads, T, Dh)."""

    def __init__(self, H, heads, linear=False):
        super().__init__()
        self.heads, self.linear = heads, linear
        self.q = nn.Linear(H, H, bias=False)
        self.k = nn.Linear(H, H, bias=False)
        self.v = nn.Linear(H, H, bias=False)
        self.o = nn.Linear(H, H, bias=False)

    def forward(self, xq, xkv, causal, window=0, rope=None):
        B, Tq, H = xq.shape
        Tk, h = xkv.shape[1], self.heads
        d = H // h
        q = self.q(xq).view(B, Tq, h, d).transpose(1, 2)
        k = self.k(xkv).view(B, Tk, h, d).transpose(1, 2)
        v = self.v(xkv).view(B, Tk, h, d).transpose(1, 2)
        if rope is not None:
            q, k = rope(q), rope(k)
        if self.linear:
            return self.o(linear_attention(q, k, v).transpose(1, 2).reshape(B, Tq, H))
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        if causal:
            mask = torch.ones(Tq, Tk, dtype=torch.bool, device=s.device).triu(1 + Tk - Tq)
            if window > 0:
                mask |= torch.ones(Tq, Tk, dtype=torch.bool, device=s.device).tril(Tk - Tq - window)
            s = s.masked_fill(mask, float("-inf"))
        a = s.softmax(-1) @ v
        return self.o(a.transpose(1, 2).reshape(B, Tq, H))


def linear_attention(q, k, v, eps=1e-6):
    """causal linear attention (Katharopoulos et al. 2020), phi = elu + 1, in its
    parallel (masked, quadratic) form, the fastest in torch at these lengths
    (T <= a few hundred; the cumulative-sum form builds (T, Dh, Dh) per head):
    A = phi(q) phi(k)^T on s <= t, y_t = sum_s A_ts v_s / (sum_s A_ts + eps).
    q, k, v (B, heads, T, Dh)."""
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    T = q.shape[-2]
    a = (fq @ fk.transpose(-2, -1)).masked_fill(
        torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), 0.0)
    return (a / (a.sum(-1, keepdim=True) + eps)) @ v


class MLP(nn.Module):
    def __init__(self, H, inner):
        super().__init__()
        self.up = nn.Linear(H, inner)
        self.down = nn.Linear(inner, H)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))  # exact (erf) GELU


class TfLayer(nn.Module):
    def __init__(self, H, heads, mlp, cross):
        super().__init__()
        self.n1 = nn.LayerNorm(H, eps=1e-5)
        self.self = MHA(H, heads)
        self.n2 = nn.LayerNorm(H, eps=1e-5)
        if cross:
            self.cross = MHA(H, heads)
            self.n3 = nn.LayerNorm(H, eps=1e-5)
        self.mlp = MLP(H, mlp * H) if mlp else None


class Transformer(nn.Module):
    def __init__(self, opt, sin):
        super().__init__()
        H, self.heads = int(opt["hidden"]), int(opt["heads"])
        self.post = opt["norm"] == "post"
        self.enc_pe, self.dec_pe = opt["enc_pe"], opt["dec_pe"]
        if float(opt.get("dropout", "0")) != 0:
            raise SystemExit("torch_ref: dropout must be 0 for a comparable run")
        L = sin.shape[0]
        self.src_emb = nn.Embedding(VOCAB, H)
        self.tgt_emb = nn.Embedding(VOCAB, H)
        self.register_buffer("sin", torch.tensor(sin))
        if self.enc_pe == "learned":
            self.src_pos = nn.Parameter(torch.zeros(L, H))
        if self.dec_pe == "learned":
            self.tgt_pos = nn.Parameter(torch.zeros(L, H))
        mlp = int(opt["mlp"])
        self.enc = nn.ModuleList(TfLayer(H, self.heads, mlp, False) for _ in range(int(opt["enc"])))
        self.dec = nn.ModuleList(TfLayer(H, self.heads, mlp, True) for _ in range(int(opt["dec"])))
        if not self.post:
            self.enc_norm = nn.LayerNorm(H, eps=1e-5)
            self.dec_norm = nn.LayerNorm(H, eps=1e-5)
        self.out = nn.Linear(H, VOCAB)

    def embed(self, side, ids, pos0=0):
        emb, pe = (self.tgt_emb, self.dec_pe) if side else (self.src_emb, self.enc_pe)
        x = emb(ids)
        T = ids.shape[1]
        if pe == "learned":
            x = x + (self.tgt_pos if side else self.src_pos)[pos0:pos0 + T]
        elif pe == "sinusoidal":
            x = x + self.sin[pos0:pos0 + T]
        return x

    def sub(self, x, f, norm):
        """x + f(x) with pre- or post-LayerNorm"""
        return norm(x + f(x)) if self.post else x + f(norm(x))

    def encode(self, src):
        x = self.embed(0, src)
        for ly in self.enc:
            x = self.sub(x, lambda h: ly.self(h, h, False), ly.n1)
            if ly.mlp is not None:
                x = self.sub(x, ly.mlp, ly.n2)
        return x if self.post else self.enc_norm(x)

    def decode(self, mem, dec):
        y = self.embed(1, dec)
        for ly in self.dec:
            y = self.sub(y, lambda h: ly.self(h, h, True), ly.n1)
            y = self.sub(y, lambda h: ly.cross(h, mem, False), ly.n2)
            if ly.mlp is not None:
                y = self.sub(y, ly.mlp, ly.n3)
        return self.out(y if self.post else self.dec_norm(y))

    def loss(self, src, inp, tgt):
        logits = self.decode(self.encode(src), inp)
        return F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=-1)

    @torch.no_grad()
    def greedy(self, src, maxT):
        """Encode once, re-run the decoder on the growing output (no cache)."""
        mem = self.encode(src)
        dec = torch.full((1, 1), SOS, dtype=torch.long)
        out = []
        for _ in range(maxT):
            tok = int(self.decode(mem, dec)[0, -1].argmax())
            out.append(tok)
            if tok == EOS:
                break
            dec = torch.cat([dec, torch.tensor([[tok]])], 1)
        return out


# ---- the decoder-only Transformer (include/seqlab/gpt.h) ------------------------

def sinusoid(L, H):
    """sl_nn_sinusoid: sin/cos(p / 10000^(i/H)) in pairs (i even), rounded to float32"""
    p, i = np.arange(L)[:, None], np.arange(0, H, 2)[None, :]
    pe = np.zeros((L, H))
    pe[:, 0::2] = np.sin(p / 10000.0 ** (i / H))
    pe[:, 1::2] = np.cos(p / 10000.0 ** (i / H))
    return pe.astype(np.float32)


def fixed_table(vocab, H, fixed):
    """the task's fixed input vectors (vocab, d), zero-padded to the model width H"""
    t = np.zeros((vocab, H), np.float32)
    t[:, :fixed.shape[1]] = fixed
    return torch.tensor(t)


class GptBlock(nn.Module):
    """x + Attn(LN(x)) [+ MLP(LN(x))], or LN(x + Attn(x)) [then LN(x + MLP(x))] post-LN"""

    def __init__(self, H, heads, mlp, post, linear=False):
        super().__init__()
        self.post = post
        self.n1 = nn.LayerNorm(H, eps=1e-5)
        self.attn = MHA(H, heads, linear)
        if mlp:
            self.n2 = nn.LayerNorm(H, eps=1e-5)
            self.mlp = MLP(H, mlp * H)
        else:
            self.mlp = None

    def forward(self, x, window, rope):
        if self.post:
            x = self.n1(x + self.attn(x, x, True, window, rope))
            return x if self.mlp is None else self.n2(x + self.mlp(x))
        h = self.n1(x)
        x = x + self.attn(h, h, True, window, rope)
        return x if self.mlp is None else x + self.mlp(self.n2(x))



def embed_init(mod, vocab, maxlen, H, fixed):
    """a language model's token table (trained, or recall's fixed vectors) and
    its positions by mod.pe: learned (from zero, as seqlab's weights load) or
    sinusoidal; rope and none add nothing here"""
    if fixed is not None:
        mod.register_buffer("emb_fixed", fixed_table(vocab, H, fixed))
    else:
        mod.emb = nn.Embedding(vocab, H)
    if mod.pe == "learned":
        mod.pos = nn.Parameter(torch.zeros(maxlen, H))
    elif mod.pe == "sinusoidal":
        mod.register_buffer("sin", torch.tensor(sinusoid(maxlen, H)))


def embed(mod, x):
    """tokens x (B, T) embedded, with mod.pe's positions added"""
    T = x.shape[1]
    h = F.embedding(x, mod.emb_fixed) if hasattr(mod, "emb_fixed") else mod.emb(x)
    if mod.pe == "learned":
        h = h + mod.pos[:T]
    elif mod.pe == "sinusoidal":
        h = h + mod.sin[:T]
    return h

class Gpt(nn.Module):
    """Token embedding (learned, or the task's fixed vectors), positions
    (learned, rotary, none or sinusoidal), causal attention blocks with an
    optional GELU MLP, pre- or post-LayerNorm, a linear read-out."""

    def __init__(self, opt, vocab, maxlen, fixed=None):
        super().__init__()
        H, self.heads = int(opt["hidden"]), int(opt["heads"])
        self.post = opt["norm"] == "post"
        self.pe, self.window = opt["pe"], int(opt["window"])
        self.rope_base = float(opt["rope_base"])
        if float(opt.get("dropout", "0")) != 0:
            raise SystemExit("torch_ref: dropout must be 0 for a comparable run")
        embed_init(self, vocab, maxlen, H, fixed)
        self.nl = int(opt["layers"])
        for i in range(self.nl):
            setattr(self, "l%d" % i, GptBlock(H, self.heads, int(opt["mlp"]), self.post,
                                              opt.get("attn", "softmax") == "linear"))
        if not self.post:
            self.norm_f = nn.LayerNorm(H, eps=1e-5)
        self.out = nn.Linear(H, vocab)

    def rope(self, x):
        """rotary positions: pairs (2i, 2i+1) of each head turned by t * base^(-2i/Dh)"""
        T, Dh = x.shape[-2], x.shape[-1]
        theta = self.rope_base ** (-np.arange(0, Dh, 2) / Dh)
        ang = np.arange(T)[:, None] * theta[None, :]
        cos = torch.tensor(np.cos(ang), dtype=x.dtype)
        sin = torch.tensor(np.sin(ang), dtype=x.dtype)
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)

    def forward(self, x):
        h = embed(self, x)
        rope = self.rope if self.pe == "rope" else None
        for i in range(self.nl):
            h = getattr(self, "l%d" % i)(h, self.window, rope)
        return self.out(h if self.post else self.norm_f(h))


def recall_loss(model, x, y):
    """associative recall: the label is predicted at the last position only"""
    return F.cross_entropy(model(x)[:, -1], y)


# ---- Mamba (include/seqlab/mamba.h) -------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    def __init__(self, H, E, N, R, K, disc):
        super().__init__()
        self.E, self.N, self.R, self.disc = E, N, R, disc
        self.norm = RMSNorm(H)
        self.in_proj = nn.Linear(H, 2 * E, bias=False)
        self.conv = nn.Conv1d(E, E, K, groups=E, padding=K - 1)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E)
        self.A_log = nn.Parameter(torch.zeros(E, N))
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, H, bias=False)

    def forward(self, h):
        B, L, _ = h.shape
        E, N, R = self.E, self.N, self.R
        x, z = self.in_proj(self.norm(h)).split(E, -1)
        x = F.silu(self.conv(x.transpose(1, 2))[..., :L].transpose(1, 2))
        dt, Bm, Cm = self.x_proj(x).split([R, N, N], -1)
        delta = F.softplus(self.dt_proj(dt))                    # (B, L, E)
        A = -torch.exp(self.A_log)                             # (E, N)
        w = delta.unsqueeze(-1) * A                            # (B, L, E, N)
        bx = (delta * x).unsqueeze(-1) * Bm.unsqueeze(2)       # delta B x  (B, L, E, N)
        if self.disc == "zoh":
            abar = torch.exp(w)
            bx = (abar - 1) / A * (Bm.unsqueeze(2) * x.unsqueeze(-1))
        elif self.disc == "bilinear":
            abar = (1 + w / 2) / (1 - w / 2)
            bx = bx / (1 - w / 2)
        elif self.disc == "euler":
            abar = 1 + w
        else:  # zoh-approx: exp(delta A), delta B
            abar = torch.exp(w)
        s = torch.zeros(B, E, N, dtype=h.dtype)
        ys = []
        # the sequential scan, one time step at a time, over per-step views
        # from unbind: indexing abar[:, t] in the loop instead makes autograd
        # scatter every step's gradient into a zero tensor of the whole
        # (B, L, E, N), quadratic in L (73 s a step at L = 64 here)
        steps = zip(abar.unbind(1), bx.unbind(1), Cm.unsqueeze(2).unbind(1))
        for a_t, bx_t, c_t in steps:
            s = a_t * s + bx_t
            ys.append((s * c_t).sum(-1))
        y = (torch.stack(ys, 1) + x * self.D) * F.silu(z)
        return h + self.out_proj(y)


class Mamba(nn.Module):
    def __init__(self, opt, vocab=VOCAB, fixed=None):
        super().__init__()
        H, E = int(opt["hidden"]), int(opt["expand"]) * int(opt["hidden"])
        R = int(opt["dt_rank"]) or (H + 15) // 16
        self.nl = int(opt["layers"])
        if fixed is not None:  # recall's embed=fixed: the task's vectors, not trained
            self.register_buffer("emb_fixed", fixed_table(vocab, H, fixed))
        else:
            self.emb = nn.Embedding(vocab, H)
        for i in range(self.nl):
            setattr(self, "l%d" % i, MambaBlock(H, E, int(opt["state"]), R, int(opt["conv"]), opt["disc"]))
        self.norm_f = RMSNorm(H)
        self.out = nn.Linear(H, vocab)

    def forward(self, x):
        h = F.embedding(x, self.emb_fixed) if hasattr(self, "emb_fixed") else self.emb(x)
        for i in range(self.nl):
            h = getattr(self, "l%d" % i)(h)
        return self.out(self.norm_f(h))

    def loss(self, src, inp, tgt):
        """prefix LM over `source EOS SOS target`, scored on the target and EOS"""
        B, S = src.shape
        x = torch.cat([src, torch.full((B, 1), EOS, dtype=src.dtype), inp], 1)
        y = torch.cat([torch.full((B, S + 1), -1, dtype=tgt.dtype), tgt], 1)
        return F.cross_entropy(self(x).reshape(-1, VOCAB), y.reshape(-1), ignore_index=-1)

    @torch.no_grad()
    def greedy(self, src, maxT):
        """Re-run the whole model on the growing sequence."""
        x = torch.cat([src, torch.tensor([[EOS, SOS]])], 1)
        out = []
        for _ in range(maxT):
            tok = int(self(x)[0, -1].argmax())
            out.append(tok)
            if tok == EOS:
                break
            x = torch.cat([x, torch.tensor([[tok]])], 1)
        return out


# ---- the linear-recurrence and state-space stacks: s4d, lru, hawk, griffin ----------
# (include/seqlab/stack.h: token embedding, positions, blocks by letter, a final
# norm unless the last block normalises, a linear read-out). Where seqlab
# deviates from the references (ZOO.md), these follow seqlab, so the gradients
# compare: exact GELU throughout; RMSNorm's gain g (x rsqrt(mean x^2 + 1e-6) g);
# Griffin's attention block seqlab's A block (multi-head, RoPE on every pair
# (2i, 2i+1) of a head, LayerNorms, a plain GELU MLP, no output bias, the last
# `window` keys) (bench/RESULTS.md lists the references' versions).

def scan_loop(a, b):
    """h_t = a_t h_{t-1} + b_t along dim 1 (h_{-1} = 0), a time step at a time
    over per-step views (unbind: see MambaBlock); a may broadcast over dim 0"""
    h, hs = None, []
    bs = b.unbind(1)
    as_ = a.unbind(1) if a.shape[1] > 1 else [a[:, 0]] * len(bs)
    for a_t, b_t in zip(as_, bs):
        h = b_t if h is None else a_t * h + b_t
        hs.append(h)
    return torch.stack(hs, 1)


def scan_parallel(a, b):
    """the same recurrence by the Hillis-Steele scan of the associative operator
    (a1, b1) o (a2, b2) = (a2 a1, a2 b1 + b2): log2(T) whole-tensor steps"""
    T = b.shape[1]
    a = a.expand_as(b)
    d = 1
    while d < T:
        b = torch.cat([b[:, :d], a[:, d:] * b[:, :-d] + b[:, d:]], 1)
        if 2 * d < T:
            a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], 1)
        d *= 2
    return b


SCANS = {"loop": scan_loop, "scan": scan_parallel}
CONVS = ("fft", "direct")


def rope(x, base):
    """sl_rope: pairs (2i, 2i+1) of each head turned by t * base^(-2i/Dh); x (B, heads, T, Dh)"""
    T, Dh = x.shape[-2], x.shape[-1]
    ang = np.arange(T)[:, None] * (base ** (-np.arange(0, Dh, 2) / Dh))[None, :]
    cos, sin = torch.tensor(np.cos(ang), dtype=x.dtype), torch.tensor(np.sin(ang), dtype=x.dtype)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)


class S4DBlock(nn.Module):
    """S4D (state-spaces/s4 models/s4/s4d.py, example.py's block, post-norm):
    K[h, l] = 2 Re sum_n C_n Bbar_n Abar_n^l by the Vandermonde product, y = K * u
    by FFT of length 2L (as the reference convolves; conv="direct": as one
    product with the kernel's lower-triangular Toeplitz matrix per channel)
    + D u, then LayerNorm(h + GLU(out(GELU(y))))"""

    def __init__(self, H, N, disc, conv="fft"):
        super().__init__()
        M = N // 2
        self.disc, self.conv = disc, conv
        self.log_dt = nn.Parameter(torch.zeros(H))
        self.A_re_log = nn.Parameter(torch.zeros(H, M))
        self.A_im = nn.Parameter(torch.zeros(H, M))
        self.C = nn.Parameter(torch.zeros(H, M, 2))
        self.D = nn.Parameter(torch.zeros(H))
        self.out = nn.Linear(H, 2 * H)
        self.norm = nn.LayerNorm(H, eps=1e-5)

    def kernel(self, L):
        dt = torch.exp(self.log_dt).unsqueeze(-1)                      # (H, 1)
        A = torch.complex(-torch.exp(self.A_re_log), self.A_im)        # (H, M)
        dtA = dt * A
        C = torch.view_as_complex(self.C)
        if self.disc == "bilinear":
            CB = C * dt / (1 - dtA / 2)
            logA = torch.log((1 + dtA / 2) / (1 - dtA / 2))
        else:  # zoh (and zoh-approx, which seqlab's S4D computes as zoh)
            CB = C * (torch.exp(dtA) - 1) / A
            logA = dtA
        l = torch.arange(L, dtype=self.log_dt.dtype)
        return 2 * torch.einsum("hm,hml->hl", CB, torch.exp(logA.unsqueeze(-1) * l)).real

    def forward(self, h):
        L = h.shape[1]
        u = h.transpose(1, 2)                                          # (B, H, L)
        k = self.kernel(L)
        if self.conv == "direct":  # y[t] = sum_{s <= t} K[t - s] u[s]
            lag = torch.arange(L).unsqueeze(1) - torch.arange(L)
            y = (k[:, lag.clamp(min=0)] * (lag >= 0)) @ u.permute(1, 2, 0)   # (H, L, L) @ (H, L, B)
            y = y.permute(2, 0, 1)
        else:
            y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        y = (y + u * self.D.unsqueeze(-1)).transpose(1, 2)
        return self.norm(h + F.glu(self.out(F.gelu(y)), -1))


class LRUBlock(nn.Module):
    """the LRU (minimal-LRU lru/model.py): u = LayerNorm(h), x_t = lambda x_{t-1} +
    gamma (B u_t) over complex lanes, y = Re(C x) + D u, h + out1(g) sigmoid(out2(g)),
    g = GELU(y); B as [B_re; B_im] (2N, H), C as [C_re, -C_im] (H, 2N) as seqlab stores them"""

    def __init__(self, H, N, scan):
        super().__init__()
        self.N, self.scan = N, SCANS[scan]
        self.norm = nn.LayerNorm(H, eps=1e-5)
        self.B = nn.Linear(H, 2 * N, bias=False)
        self.nu_log = nn.Parameter(torch.zeros(N))
        self.theta_log = nn.Parameter(torch.zeros(N))
        self.gamma_log = nn.Parameter(torch.zeros(N))
        self.C = nn.Linear(2 * N, H, bias=False)
        self.D = nn.Parameter(torch.zeros(H))
        self.out1 = nn.Linear(H, H)
        self.out2 = nn.Linear(H, H)

    def forward(self, h):
        u = self.norm(h)
        bu = self.B(u) * torch.exp(self.gamma_log).repeat(2)                 # gamma (B u), (B, T, 2N)
        bu = torch.complex(bu[..., :self.N], bu[..., self.N:])
        r, ph = torch.exp(-torch.exp(self.nu_log)), torch.exp(self.theta_log)
        lam = torch.complex(r * torch.cos(ph), r * torch.sin(ph))
        x = self.scan(lam.view(1, 1, -1), bu)                                 # (B, T, N) complex
        y = self.C(torch.cat([x.real, x.imag], -1)) + u * self.D
        g = F.gelu(y)
        return h + self.out1(g) * torch.sigmoid(self.out2(g))


MAX_SQRT_GRADIENT = 1000.0


class SqrtBoundDerivative(torch.autograd.Function):
    """sqrt(x) whose derivative is at most MAX_SQRT_GRADIENT (recurrentgemma's)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sqrt(x)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g / torch.sqrt(torch.clamp(x, min=1.0 / (MAX_SQRT_GRADIENT ** 2 * 4))) / 2


class BlockDiagonalLinear(nn.Module):
    """y = x W + b with W (heads, bw, bw) block-diagonal (recurrentgemma's)"""

    def __init__(self, W, heads):
        super().__init__()
        self.heads, self.bw = heads, W // heads
        self.weight = nn.Parameter(torch.zeros(heads, self.bw, self.bw))
        self.bias = nn.Parameter(torch.zeros(W))

    def forward(self, x):
        y = torch.einsum("...hi,hij->...hj", x.unflatten(-1, (self.heads, self.bw)), self.weight)
        return y.flatten(-2) + self.bias


class RGLRUBlock(nn.Module):
    """Hawk's and Griffin's residual block around the recurrent block
    (recurrentgemma torch/modules.py, layers.py): u = RMSNorm(h), y = GELU(W_y u),
    x = conv4(W_x u), r = sigmoid(gate_a x), i = sigmoid(gate_x x),
    log a = -8 r softplus(a_param), z_t = a_t z_{t-1} + sqrt(1 - a_t^2) i_t x_t
    (z_0 = i_0 x_0: the reference's reset at position 0),
    h + W_o(z y); then h + down(GELU(up0 v) up1 v), v = RMSNorm(h)"""

    def __init__(self, H, W, heads, K, mlp, scan):
        super().__init__()
        self.scan = SCANS[scan]
        self.norm = RMSNorm(H)
        self.wy = nn.Linear(H, W)
        self.wx = nn.Linear(H, W)
        self.conv = nn.Conv1d(W, W, K, groups=W, padding=K - 1)
        self.gate_a = BlockDiagonalLinear(W, heads)
        self.gate_x = BlockDiagonalLinear(W, heads)
        self.a_param = nn.Parameter(torch.zeros(W))
        self.wo = nn.Linear(W, H)
        self.mlp = mlp > 0
        if self.mlp:
            self.norm2 = RMSNorm(H)
            self.up0 = nn.Linear(H, mlp * H)
            self.up1 = nn.Linear(H, mlp * H)
            self.down = nn.Linear(mlp * H, H)

    def forward(self, h):
        T = h.shape[1]
        u = self.norm(h)
        y = F.gelu(self.wy(u))
        x = self.conv(self.wx(u).transpose(1, 2))[..., :T].transpose(1, 2)
        log_a = -8.0 * torch.sigmoid(self.gate_a(x)) * F.softplus(self.a_param)
        a = torch.exp(log_a)
        m = SqrtBoundDerivative.apply(1 - a * a)
        m = torch.cat([torch.ones_like(m[:, :1]), m[:, 1:]], 1)  # the reset at position 0
        b = m * (torch.sigmoid(self.gate_x(x)) * x)
        h = h + self.wo(self.scan(a, b) * y)
        if self.mlp:
            v = self.norm2(h)
            h = h + self.down(F.gelu(self.up0(v)) * self.up1(v))
        return h


class Stack(nn.Module):
    """seqlab's stack presets s4d, lru, hawk, griffin (and hybrids of S, L, R, A, F)"""

    def __init__(self, kind, opt, vocab, maxlen, fixed=None, scan="loop", conv="fft"):
        super().__init__()
        H = int(opt["hidden"])
        pattern = opt["pattern"] if "pattern" in opt else {"s4d": "S", "lru": "L", "hawk": "R"}[kind] * int(
            opt["layers"])
        self.pe = opt.get("pe", "none")
        self.rope_base = float(opt.get("rope_base", "10000"))
        self.window = int(opt.get("window", "0"))
        if float(opt.get("dropout", "0")) != 0:
            raise SystemExit("torch_ref: dropout must be 0 for a comparable run")
        embed_init(self, vocab, maxlen, H, fixed)
        self.nl = len(pattern)
        post = opt.get("norm", "pre") == "post"
        for i, c in enumerate(pattern):
            if c == "S":
                blk = S4DBlock(H, int(opt["state"]), opt["disc"], conv)
            elif c == "L":
                blk = LRUBlock(H, int(opt["state"]), scan)
            elif c == "R":
                blk = RGLRUBlock(H, int(opt["width"]) or H, int(opt["heads"]), int(opt["conv"]), int(opt["mlp"]),
                                 scan)
            elif c in "AF":
                blk = GptBlock(H, int(opt["heads"]), int(opt["mlp"]), post, c == "F" or opt.get("attn") == "linear")
            else:
                raise SystemExit("torch_ref: no reference for block '%s'" % c)
            setattr(self, "l%d" % i, blk)
        self.letters = pattern
        last = pattern[-1]
        if not (last == "S" or last in "AF" and post):  # the last block's own norm ends the stack
            self.norm_f = RMSNorm(H) if kind in ("hawk", "griffin", "hybrid", "mamba") else nn.LayerNorm(H, eps=1e-5)
        self.out = nn.Linear(H, vocab)

    def forward(self, x):
        h = embed(self, x)
        rp = (lambda t: rope(t, self.rope_base)) if self.pe == "rope" else None
        for i, c in enumerate(self.letters):
            blk = getattr(self, "l%d" % i)
            h = blk(h, 0 if c == "F" else self.window, rp) if c in "AF" else blk(h)
        return self.out(self.norm_f(h) if hasattr(self, "norm_f") else h)


# ---- the recurrent cells' stacks (include/seqlab/rnn.h, src/nn/rnn.c) --------------

def tie_bias_hh(b, kind, H):
    """seqlab's cells have no hidden-side bias but the GRU's b_hg: zero the rest of torch's
    bias_hh and mask its gradient there (Adam then never moves it)"""
    with torch.no_grad():
        b.zero_()
    mask = torch.zeros(b.shape)
    if kind == "gru":
        mask[2 * H:] = 1
    b.register_hook(lambda g: g * mask.to(g.dtype))


class CellBlock(nn.Module):
    """h + cell(LayerNorm(h)) over the sequence, the cell PyTorch's own
    nn.GRU / nn.LSTM / nn.RNN(tanh) of one layer. seqlab has one input bias
    per gate (wx.b = bias_ih) and, in the GRU, b_hg inside r * (W_hg h + b_hg)
    (= bias_hh's last third): bias_hh's other entries stay zero (their
    gradient is masked; Adam then never moves them)."""

    def __init__(self, H, kind):
        super().__init__()
        self.norm = nn.LayerNorm(H, eps=1e-5)
        cls = {"gru": nn.GRU, "lstm": nn.LSTM, "elman": nn.RNN}[kind]
        self.rnn = cls(H, H, batch_first=True)
        tie_bias_hh(self.rnn.bias_hh_l0, kind, H)

    def forward(self, h):
        return h + self.rnn(self.norm(h))[0]


class CellStack(nn.Module):
    """The gru / lstm / elman presets: embedding, cell blocks, final LayerNorm, read-out;
    on Pig-Latin a prefix LM as Mamba is."""

    def __init__(self, opt, kind, vocab=VOCAB):
        super().__init__()
        H = int(opt["hidden"])
        self.nl = int(opt["layers"])
        if float(opt.get("dropout", "0")) != 0:
            raise SystemExit("torch_ref: dropout must be 0 for a comparable run")
        self.emb = nn.Embedding(vocab, H)
        for i in range(self.nl):
            setattr(self, "l%d" % i, CellBlock(H, kind))
        self.norm_f = nn.LayerNorm(H, eps=1e-5)
        self.out = nn.Linear(H, vocab)
        # seqlab's tensors that are a part of one here: name -> slice
        self.parts = {"l%d.bhg" % i: slice(2 * H, 3 * H) for i in range(self.nl)} if kind == "gru" else {}
        self.unshared = ["l%d.rnn.bias_hh_l0" % i for i in range(self.nl)] if kind != "gru" else []

    def forward(self, x):
        h = self.emb(x)
        for i in range(self.nl):
            h = getattr(self, "l%d" % i)(h)
        return self.out(self.norm_f(h))

    loss = Mamba.loss
    greedy = Mamba.greedy


class RnnAttention(nn.Module):
    """e_ts = v . act(W q_t + U k_s + b), act tanh (additive: Bahdanau's, the translation
    tutorial's BahdanauAttention) or ReLU (mlp: the PA3 handout's Linear(2H, H), ReLU,
    Linear(H, 1) on [q; k], whose first layer is W q + U k + b)"""

    def __init__(self, H, relu):
        super().__init__()
        self.relu = relu
        self.w = nn.Linear(H, H, bias=False)
        self.u = nn.Linear(H, H)
        self.v = nn.Parameter(torch.zeros(H))

    def forward(self, q, keys, pkeys):
        """q (B, H), keys and pkeys = U keys + b (B, S, H) -> context (B, H)"""
        u = self.w(q)[:, None, :] + pkeys
        e = (F.relu(u) if self.relu else torch.tanh(u)) @ self.v
        a = e.softmax(-1)
        return (a[:, :, None] * keys).sum(1)


class RnnSeq2Seq(nn.Module):
    """The rnn encoder-decoder (src/models/rnn.c): torch's nn.GRU / nn.LSTM / nn.RNN over the
    source, layer by layer; a decoder of nn.GRUCell / LSTMCell / RNNCell whose first cell
    reads [embedding; context], the query the top layer's previous state, each layer
    starting from the encoder layer's last state; a linear read-out."""

    def __init__(self, opt):
        super().__init__()
        H, self.nl = int(opt["hidden"]), int(opt["layers"])
        E = int(opt["emb"]) or H
        self.kind = {"tanh": "elman"}.get(opt["cell"], opt["cell"])
        self.attn_on = opt["attn"] != "none"
        if float(opt.get("dropout", "0")) != 0:
            raise SystemExit("torch_ref: dropout must be 0 for a comparable run")
        seq = {"gru": nn.GRU, "lstm": nn.LSTM, "elman": nn.RNN}[self.kind]
        cell = {"gru": nn.GRUCell, "lstm": nn.LSTMCell, "elman": nn.RNNCell}[self.kind]
        self.src_emb = nn.Embedding(VOCAB, E)
        self.tgt_emb = nn.Embedding(VOCAB, E)
        self.enc = nn.ModuleList(seq(E if l == 0 else H, H, batch_first=True) for l in range(self.nl))
        self.dec = nn.ModuleList(cell((E + (H if self.attn_on else 0)) if l == 0 else H, H) for l in range(self.nl))
        for l in range(self.nl):
            tie_bias_hh(self.enc[l].bias_hh_l0, self.kind, H)
            tie_bias_hh(self.dec[l].bias_hh, self.kind, H)
        if self.attn_on:
            self.attn = RnnAttention(H, opt["attn"] == "mlp")
        self.out = nn.Linear(H, VOCAB)
        gru = self.kind == "gru"
        self.parts = {}
        self.unshared = []
        for l in range(self.nl):
            for side, tn in (("enc", "bias_hh_l0"), ("dec", "bias_hh")):
                if gru:
                    self.parts["%s.%d.bhg" % (side, l)] = slice(2 * H, 3 * H)
                else:
                    self.unshared.append("%s.%d.%s" % (side, l, tn))

    def encode(self, src):
        x, hs, cs = self.src_emb(src), [], []
        for rnn in self.enc:
            x, h = rnn(x)
            if self.kind == "lstm":
                h, c = h
                cs.append(c[0])
            hs.append(h[0])
        return x, hs, cs

    def step(self, keys, pkeys, hs, cs, e):
        """one decoder step for embedded tokens e (B, E): the top state; hs, cs updated"""
        x = torch.cat([e, self.attn(hs[-1], keys, pkeys)], -1) if self.attn_on else e
        for l, cell in enumerate(self.dec):
            if self.kind == "lstm":
                hs[l], cs[l] = cell(x, (hs[l], cs[l]))
            else:
                hs[l] = cell(x, hs[l])
            x = hs[l]
        return x

    def loss(self, src, inp, tgt):
        keys, hs, cs = self.encode(src)
        pkeys = self.attn.u(keys) if self.attn_on else None
        e = self.tgt_emb(inp)
        y = torch.stack([self.step(keys, pkeys, hs, cs, e[:, t]) for t in range(inp.shape[1])], 1)
        return F.cross_entropy(self.out(y).reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=-1)

    @torch.no_grad()
    def greedy(self, src, maxT):
        """a step at a time from sos, the states carried"""
        keys, hs, cs = self.encode(src)
        pkeys = self.attn.u(keys) if self.attn_on else None
        tok, out = SOS, []
        for _ in range(maxT):
            h = self.step(keys, pkeys, hs, cs, self.tgt_emb(torch.tensor([tok])))
            tok = int(self.out(h)[0].argmax())
            out.append(tok)
            if tok == EOS:
                break
        return out


CELL_NAMES = {"wx.w": "rnn.weight_ih_l0", "wx.b": "rnn.bias_ih_l0", "wh.w": "rnn.weight_hh_l0",
              "bhg": "rnn.bias_hh_l0"}


def part(model, name, t):
    """the part of tensor t that is seqlab's parameter `name`"""
    s = getattr(model, "parts", {}).get(name)
    return t if s is None else t.reshape(-1)[s]


# ---- loading seqlab's weights by name ---------------------------------------------

CELLS = ("gru", "lstm", "elman")


def torch_name(name, kind):
    """seqlab's parameter name -> the reference's"""
    if kind == "rnn":
        side, _, rest = name.partition(".")
        if side in ("enc", "dec"):
            layer, _, rest = rest.partition(".")
            sfx = "_l0" if side == "enc" else ""
            tn = {"wx.w": "weight_ih", "wx.b": "bias_ih", "wh.w": "weight_hh", "bhg": "bias_hh"}[rest]
            return "%s.%s.%s%s" % (side, layer, tn, sfx)
    if kind in ("transformer", "rnn") and name in ("src_emb", "tgt_emb") or \
            kind not in ("transformer", "rnn") and name == "emb":
        return name + ".weight"
    if kind in CELLS:
        layer, _, rest = name.partition(".")
        if rest in CELL_NAMES:
            return layer + "." + CELL_NAMES[rest]
    base, _, last = name.rpartition(".")
    if base and last in ("w", "g"):
        return base + ".weight"
    if base and last == "b":
        return base + ".bias"
    return name


def build(init_path, data, scan="loop", conv="fft"):
    params, meta = st_read(init_path)
    kind, opt = parse_spec(meta["model"])
    task, topt = parse_spec(meta.get("task", "piglatin"))
    if task == "recall":
        vocab, maxlen = int(topt["K"]), int(topt["maxlen"])
        fixed = data["embed"] if topt["embed"] == "fixed" else None
        if kind == "gpt":
            model = Gpt(opt, vocab, maxlen, fixed)
        elif kind == "mamba":
            model = Mamba(opt, vocab, fixed)
        elif kind in ("s4d", "lru", "hawk", "griffin", "hybrid"):
            model = Stack(kind, opt, vocab, maxlen, fixed, scan, conv)
        else:
            raise SystemExit("torch_ref: no reference for model '%s' on recall" % kind)
    elif kind == "transformer":
        model = Transformer(opt, data["sin"])
    elif kind == "mamba":
        model = Mamba(opt)
    elif kind in CELLS:
        model = CellStack(opt, kind)
    elif kind == "rnn":
        model = RnnSeq2Seq(opt)
    else:
        raise SystemExit("torch_ref: no reference for model '%s'" % kind)
    mine = dict(model.named_parameters())
    names = {}
    for name, a in params.items():
        tn = torch_name(name, kind)
        if tn not in mine:
            raise SystemExit("torch_ref: seqlab parameter %s (%s) has no counterpart" % (name, tn))
        p = part(model, name, mine[tn].data)
        if p.numel() != a.size:
            raise SystemExit("torch_ref: %s: %s elements in seqlab, %s here" % (name, a.size, p.numel()))
        with torch.no_grad():
            p.copy_(torch.from_numpy(a.copy()).reshape(p.shape))  # conv (E, K) -> (E, 1, K)
        names[name] = tn
    left = set(mine) - set(names.values()) - set(getattr(model, "unshared", []))
    if left:
        raise SystemExit("torch_ref: parameters seqlab does not have: %s" % ", ".join(sorted(left)))
    return model, kind, meta, names


def optimizer(model, meta, names):
    """torch.optim.AdamW with seqlab's settings: no decay where seqlab has none, and
    a parameter group of its own for each learning rate seqlab's groups set (the
    LRU's nu, theta, gamma and B at half the rate; S4D's dt and A at most 1e-3)."""
    nd = set(names[n] for n in meta.get("no_decay", "").split(",") if n)
    scale = {names[n]: float(f) for n, _, f in (w.partition("=") for w in meta.get("lr_scale", "").split(",")) if n}
    lr, wd = float(meta["lr"]), float(meta["weight_decay"])
    groups = {}
    for n, p in model.named_parameters():
        key = (n in nd, scale.get(n, 1.0))
        groups.setdefault(key, []).append(p)
    return torch.optim.AdamW([{"params": ps, "weight_decay": 0.0 if k[0] else wd, "lr": lr * k[1]}
                              for k, ps in groups.items()],
                             lr=lr, betas=(float(meta["beta1"]), float(meta["beta2"])), eps=float(meta["eps"]))


def batches(data):
    """Pig-Latin: (src, inp, tgt) tensors; recall: (x, y), y the label at the last position"""
    n = int(sum(1 for k in data if k.startswith("inp.")))
    out = []
    for i in range(n):
        if "src.%04d" % i in data:
            out.append(tuple(torch.from_numpy(data["%s.%04d" % (w, i)].astype(np.int64))
                             for w in ("src", "inp", "tgt")))
            continue
        x, t = data["inp.%04d" % i], data["tgt.%04d" % i]
        if (t[:, :-1] != -1).any() or (t[:, -1] < 0).any():
            raise SystemExit("torch_ref: batch %d is not scored at the last position only" % i)
        out.append((torch.from_numpy(x.astype(np.int64)), torch.from_numpy(t[:, -1].astype(np.int64))))
    return out


def loss_of(model, b):
    """the training loss of a batch: the model's own (Pig-Latin) or recall's"""
    return model.loss(*b) if len(b) == 3 else recall_loss(model, *b)


def train_step(model, opt, clip, b):
    opt.zero_grad(set_to_none=True)
    loss = loss_of(model, b)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else torch.tensor(0.0)
    opt.step()
    return float(loss), float(gn)


# ---- check --------------------------------------------------------------------------

def run_ref(d, dtype, K, scan, conv):
    data, _ = st_read(os.path.join(d, "data.safetensors"))
    model, kind, meta, names = build(os.path.join(d, "init.safetensors"), data, scan, conv)
    model.to(dtype)
    model.train()
    opt = optimizer(model, meta, names)
    bs = batches(data)[:K]
    clip = float(meta["clip"])
    losses, gnorms, grads = [], [], {}
    for k, b in enumerate(bs):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model, b)
        loss.backward()
        if k == 0:
            mine = dict(model.named_parameters())
            grads = {n: np.zeros(part(model, n, mine[tn]).numel()) if mine[tn].grad is None else
                     part(model, n, mine[tn].grad.detach()).to(torch.float64).reshape(-1).numpy().copy()
                     for n, tn in names.items()}
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else torch.tensor(0.0)
        opt.step()
        losses.append(float(loss))
        gnorms.append(float(gn))
    mine = dict(model.named_parameters())
    final = {n: part(model, n, mine[tn].detach()).to(torch.float64).reshape(-1).numpy().copy()
             for n, tn in names.items()}
    return dict(kind=kind, loss=np.array(losses), gnorm=np.array(gnorms), grad=grads, param=final, data=data,
                meta=meta)


def rel(a, b):
    """||a - b|| / ||b||, 0 if both are zero"""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    nb = np.linalg.norm(b)
    nd = np.linalg.norm(a - b)
    return 0.0 if nd == 0 else (nd / nb if nb > 0 else math.inf)


def compare(sl, ref, names):
    """the errors of sl against ref: loss1, losses[k], worst gradient, ..."""
    K = len(ref["loss"])
    e = {"loss": [rel(sl["loss"][k], ref["loss"][k]) for k in range(K)],
         "gnorm": [rel(sl["gnorm"][k], ref["gnorm"][k]) for k in range(K)],
         "grad": {n: rel(sl["grad"][n], ref["grad"][n]) for n in names},
         "param": {n: rel(sl["param"][n], ref["param"][n]) for n in names}}
    return e


def check(args):
    res, _ = st_read(os.path.join(args.dir, "seqlab.safetensors"))
    K = res["loss"].shape[0]
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    scan = args.scan if args.scan in SCANS else "loop"
    conv = args.conv if args.conv in CONVS else "fft"
    ref = run_ref(args.dir, dtype, K, scan, conv)
    names = list(ref["grad"])
    sl = {"loss": res["loss"], "gnorm": res["grad_norm"],
          "grad": {n: res["grad." + n] for n in names}, "param": {n: res["param." + n] for n in names}}
    e = compare(sl, ref, names)
    y = None
    if args.yardstick and dtype == torch.float64:
        y = compare(run_ref(args.dir, torch.float32, K, scan, conv), ref, names)

    points = []  # (ok, description)

    def point(ok, what):
        points.append((bool(ok), what))

    def ys(v):
        return "" if y is None else " torch32=%.2e" % v

    kind = ref["meta"].get("bench", ref["kind"])  # the label: bench_models -m
    task, topt = parse_spec(ref["meta"].get("task", "piglatin"))
    print("model=%s task=%s steps=%d reference=%s params=%d tensors=%d scan=%s conv=%s" %
          (kind, task, K, args.dtype, sum(v.size for v in ref["param"].values()), len(names), scan, conv))
    if task == "recall" and topt["embed"] == "fixed":
        # the homework's vectors: numpy.random.seed(0); randn(K, d); rows to unit length
        Kv, d = int(topt["K"]), int(topt["d"])
        np.random.seed(0)
        want = np.random.randn(Kv, d)
        want = (want / np.linalg.norm(want, axis=1, keepdims=True)).astype(np.float32)
        got = ref["data"]["embed"]
        err = float(np.abs(got.astype(np.float64) - want).max())
        print("check=embed max_abs=%.3g" % err)
        point(got.shape == want.shape and err == 0,
              "%s: the fixed embedding is numpy's seed-0 randn(%d, %d), rows normalised (max abs error %.2g)" %
              (kind, Kv, d, err))
    if kind == "transformer":
        L, H = ref["data"]["sin"].shape
        p, i = np.arange(L)[:, None], np.arange(0, H, 2)[None, :]
        want = np.zeros((L, H))
        want[:, 0::2] = np.sin(p / 10000.0 ** (i / H))
        want[:, 1::2] = np.cos(p / 10000.0 ** (i / H))
        err = float(np.abs(ref["data"]["sin"] - want).max())
        print("check=sinusoid max_abs=%.3g" % err)
        point(err < 1e-6, "transformer: the sinusoid table is sin/cos(p / 10000^(2i/H)) (max abs error %.2g)" % err)
    for k in range(K):
        print("step=%d seqlab_loss=%.9g ref_loss=%.9g rel=%.3g seqlab_gnorm=%.7g ref_gnorm=%.7g gnorm_rel=%.3g%s" %
              (k + 1, sl["loss"][k], ref["loss"][k], e["loss"][k], sl["gnorm"][k], ref["gnorm"][k], e["gnorm"][k],
               ys(y["loss"][k]) if y else ""))
    for n in names:
        print("grad=%s seqlab_norm=%.6g rel=%.3g%s param_rel_after_K=%.3g" %
              (n, np.linalg.norm(sl["grad"][n]), e["grad"][n], ys(y["grad"][n]) if y else "", e["param"][n]))
    worst = max(names, key=lambda n: e["grad"][n])
    later = max(e["loss"][1:]) if K > 1 else 0.0
    print("summary loss1_rel=%.3g grad_rel_max=%.3g grad_worst=%s loss_rel_max_2_%d=%.3g gnorm1_rel=%.3g"
          " param_rel_max_after_%d=%.3g%s" %
          (e["loss"][0], e["grad"][worst], worst, K, later, e["gnorm"][0], K, max(e["param"].values()),
           "" if y is None else " torch32_loss1_rel=%.3g torch32_grad_rel_max=%.3g torch32_loss_rel_max=%.3g" %
           (y["loss"][0], max(y["grad"].values()), max(y["loss"][1:]) if K > 1 else 0.0)))
    point(e["loss"][0] <= args.tol_loss1, "%s: step-1 loss agrees (rel %.2g <= %g)" % (kind, e["loss"][0], args.tol_loss1))
    bad = [n for n in names if not e["grad"][n] <= args.tol_grad]
    point(not bad, "%s: every step-1 gradient agrees (%d tensors; worst %s rel %.2g <= %g)%s" %
          (kind, len(names), worst, e["grad"][worst], args.tol_grad,
           "" if not bad else "; off: " + ", ".join("%s=%.2g" % (n, e["grad"][n]) for n in bad)))
    point(e["gnorm"][0] <= args.tol_grad, "%s: step-1 global gradient norm agrees (rel %.2g)" % (kind, e["gnorm"][0]))
    if K > 1:
        point(later <= args.tol_loss, "%s: losses of steps 2..%d agree after AdamW updates (worst rel %.2g <= %g)" %
              (kind, K, later, args.tol_loss))
    if args.tap:
        for ok, what in points:
            print("%s - %s" % ("ok" if ok else "not ok", what))
    return 0 if all(ok for ok, _ in points) else 1


# ---- time ---------------------------------------------------------------------------

def max_target(word):
    """sl_pl_max_target: three more characters per piece, plus EOS"""
    return len(word) + 3 * (1 + word.count("-") + word.count("'")) + 1


def encode(word):
    return [0 if c == "-" else ord(c) - ord("a") + 1 for c in word]


def pick_form(init, data, bs, scans, convs):
    """the fastest of PyTorch's formulations of the model's blocks (which wins
    depends on T, the width and the machine): each pair (scan, conv) timed
    over a few training steps on the first batches after one untimed step;
    returns the pair and the ms a step of each"""
    ms = {}
    n = max(1, min(4, len(bs) - 1))
    for scan in scans:
        for conv in convs:
            model, _, meta, names = build(init, data, scan, conv)
            model.train()
            opt = optimizer(model, meta, names)
            clip = float(meta["clip"])
            train_step(model, opt, clip, bs[0])
            t0 = time.perf_counter()
            for b in bs[1:1 + n]:
                train_step(model, opt, clip, b)
            ms[(scan, conv)] = 1e3 * (time.perf_counter() - t0) / n
    return min(ms, key=ms.get), ms


def form_name(form, has_scan, has_conv):
    """("loop", "fft") -> "loop", "fft" or "loop:fft" by the blocks the model has"""
    name = ":".join(f for f, has in zip(form, (has_scan, has_conv)) if has)
    return name or "-"


def timing(args):
    data, dmeta = st_read(os.path.join(args.dir, "data.safetensors"))
    init = os.path.join(args.dir, "init.safetensors")
    bs = batches(data)
    # the blocks with two formulations: L and R (--scan), S (--conv)
    kind0, opt0 = parse_spec(st_read(init)[1]["model"])
    letters = opt0.get("pattern", {"s4d": "S", "lru": "L", "hawk": "R"}.get(kind0, ""))
    has_scan, has_conv = any(c in "LR" for c in letters), "S" in letters
    scans = [args.scan] if args.scan in SCANS else list(SCANS) if has_scan else ["loop"]
    convs = [args.conv] if args.conv in CONVS else list(CONVS) if has_conv else ["fft"]
    (scan, conv), tried = (scans[0], convs[0]), "-"
    if len(scans) * len(convs) > 1:
        (scan, conv), ms = pick_form(init, data, bs, scans, convs)
        tried = ",".join("%s:%.2f" % (form_name(k, has_scan, has_conv), v) for k, v in ms.items())
    form = form_name((scan, conv), has_scan, has_conv)
    model, kind, meta, names = build(init, data, scan, conv)
    model.train()
    opt = optimizer(model, meta, names)
    W = args.warmup if args.warmup is not None else 0
    S = args.steps if args.steps is not None else len(bs) - W
    if W + S > len(bs):
        raise SystemExit("torch_ref: %d batches in the data file, %d needed" % (len(bs), W + S))
    clip = float(meta["clip"])
    for b in bs[:W]:
        train_step(model, opt, clip, b)
    words = sum(b[0].shape[0] for b in bs[W:W + S])
    t0 = time.perf_counter()
    for b in bs[W:W + S]:
        loss, _ = train_step(model, opt, clip, b)
    secs = time.perf_counter() - t0
    model.eval()
    tms = tchars = "-"  # recall: nothing to translate
    if len(bs[0]) == 3:
        tw = dmeta.get("translate", "").split()
        chars = 0
        t1 = time.perf_counter()
        for w in tw:
            out = model.greedy(torch.tensor([encode(w)]), max_target(w))
            chars += len(out) - (1 if out and out[-1] == EOS else 0)
        tsecs = time.perf_counter() - t1
        tms = "%.3f" % (1e3 * tsecs / len(tw) if tw else 0)
        tchars = "%.2f" % (chars / len(tw) if tw else 0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("torch_model=%s torch_threads=%d torch_blas_threads=%d torch_steps=%d torch_words=%d torch_seconds=%.4f"
          " torch_wps=%.1f torch_ms_step=%.3f torch_last_loss=%.4f torch_translate_ms=%s torch_translate_chars=%s"
          " torch_rss_mb=%.1f torch_version=%s torch_form=%s torch_form_ms=%s" %
          (meta.get("bench", kind), args.threads, args.blas_threads, S, words, secs, words / secs, 1e3 * secs / S,
           loss, tms, tchars, rss, torch.__version__, form, tried))
    return 0


def main():
    return check(ARGS) if ARGS.mode == "check" else timing(ARGS)


if __name__ == "__main__":
    sys.exit(main())
