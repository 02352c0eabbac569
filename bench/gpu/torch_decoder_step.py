"""Peer for bench/gpu/decoder-step.ts: the same decoder step in PyTorch, fp16 weights and an fp16
KV cache (cuBLAS matmuls, SDPA with enable_gqa), eager mode, batch 1: per layer RMSNorm, fused QKV
projection, RoPE (rotate-half), cache write at the position, SDPA over the cache, output
projection + residual, RMSNorm, SwiGLU FFN + residual. No embedding, final norm or LM head.
Tokens/s from CUDA events over back-to-back steps; the attention share from a run of the 32
SDPA calls alone at the same context. Prints and writes one JSON object.

usage: python3 bench/gpu/torch_decoder_step.py --models llama3-8b,llama2-7b \
         --contexts 4096,32768,131072,524288 --out FILE
"""
import argparse, json, math, sys, time, warnings
warnings.filterwarnings('ignore')
import torch
import torch.nn.functional as F

MODELS = {
    'llama3-8b': dict(layers=32, dim=4096, heads=32, kv=8, d=128, ffn=14336, theta=500000.0),
    'llama2-7b': dict(layers=32, dim=4096, heads=32, kv=32, d=128, ffn=11008, theta=10000.0),
}


def rmsnorm(x, g):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).half() * g


def run_model(name, m, contexts, steps, margin_gib, use_graph):
    dev = 'cuda'
    L, dim, H, KV, d, ffn = m['layers'], m['dim'], m['heads'], m['kv'], m['d'], m['ffn']
    gen = torch.Generator(device=dev).manual_seed(1)
    def mat(rows, cols):
        return ((torch.rand(rows, cols, generator=gen, device=dev) * 2 - 1) * math.sqrt(3 / cols)).half()
    layers = [dict(qkv=mat((H + 2 * KV) * d, dim), o=mat(dim, H * d), gu=mat(2 * ffn, dim), down=mat(dim, ffn),
                   g1=torch.ones(dim, device=dev, dtype=torch.half), g2=torch.ones(dim, device=dev, dtype=torch.half)) for _ in range(L)]
    torch.cuda.synchronize()
    weights_gib = sum(t.numel() * 2 for ly in layers for t in ly.values()) / 2**30
    inv = 1.0 / (m['theta'] ** (torch.arange(0, d // 2, device=dev, dtype=torch.float32) * 2 / d))
    rows = []
    for T in contexts:
        cache_bytes = 2 * L * KV * (T + steps + 8) * d * 2
        free = torch.cuda.mem_get_info()[0]
        if cache_bytes > free - margin_gib * 2**30:
            rows.append(dict(model=name, codec='torch-fp16', context=T, skipped=f'does not fit: fp16 cache {cache_bytes/2**30:.1f} GiB, {free/2**30:.1f} GiB free beside {weights_gib:.1f} GiB of weights'))
            print(json.dumps(rows[-1]), flush=True)
            continue
        maxT = T + steps + 8
        kc = torch.empty(L, 1, KV, maxT, d, device=dev, dtype=torch.half).normal_()
        vc = torch.empty_like(kc).normal_()
        x = torch.randn(1, dim, device=dev, dtype=torch.half)
        pos = [T]

        def step():
            nonlocal x
            p = pos[0]
            ang = p * inv
            cos, sin = torch.cos(ang).half(), torch.sin(ang).half()
            for l, w in enumerate(layers):
                h = rmsnorm(x, w['g1'])
                qkv = F.linear(h, w['qkv'])
                q = qkv[:, :H * d].view(1, H, d)
                k = qkv[:, H * d:(H + KV) * d].view(1, KV, d)
                v = qkv[:, (H + KV) * d:].view(1, KV, d)
                def rope(t):
                    a, b = t[..., :d // 2], t[..., d // 2:]
                    return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)
                q, k = rope(q), rope(k)
                kc[l, :, :, p] = k
                vc[l, :, :, p] = v
                o = F.scaled_dot_product_attention(q.view(1, H, 1, d), kc[l, :, :, :p + 1], vc[l, :, :, :p + 1], enable_gqa=(H != KV))
                x = x + F.linear(o.reshape(1, H * d), w['o'])
                h = rmsnorm(x, w['g2'])
                gu = F.linear(h, w['gu'])
                x = x + F.linear(F.silu(gu[:, :ffn]) * gu[:, ffn:], w['down'])
            pos[0] = p + 1

        def attn_only():
            p = pos[0]
            q = torch.randn(1, H, 1, d, device=dev, dtype=torch.half)
            for l in range(L):
                F.scaled_dot_product_attention(q, kc[l, :, :, :p + 1], vc[l, :, :, :p + 1], enable_gqa=(H != KV))

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        pos[0] = T
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        w0 = time.perf_counter()
        s.record()
        for _ in range(steps):
            step()
        e.record(); e.synchronize()
        wall = (time.perf_counter() - w0) * 1000 / steps
        gpu = s.elapsed_time(e) / steps
        pos[0] = T
        for _ in range(2):
            attn_only()
        s.record()
        for _ in range(steps):
            attn_only()
        e.record(); e.synchronize()
        attn = s.elapsed_time(e) / steps
        graph_ms = None
        if use_graph:
            # the same step captured once as a CUDA graph at a fixed position (cache write and
            # SDPA over T + 1 tokens), replayed: the GPU-bound peer without Python launch costs
            try:
                pos[0] = T
                fixed = lambda: (step(), pos.__setitem__(0, T))
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(3):
                        fixed()
                torch.cuda.current_stream().wait_stream(side)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    fixed()
                for _ in range(3):
                    g.replay()
                torch.cuda.synchronize()
                w1 = time.perf_counter()
                for _ in range(steps):
                    g.replay()
                torch.cuda.synchronize()
                graph_ms = (time.perf_counter() - w1) * 1000 / steps
                del g
            except Exception as err:  # report, do not hide: the row says why
                graph_ms = f'graph capture failed: {str(err).splitlines()[0][:160]}'
            if isinstance(graph_ms, float):
                rows.append(dict(model=name, codec='torch-fp16-graph', context=T, tokensPerSecond=1000 / graph_ms, stepMs=graph_ms,
                                 attentionMs=attn, attentionShare=attn / graph_ms, cacheGiB=cache_bytes / 2**30, weightsGiB=weights_gib))
            else:
                rows.append(dict(model=name, codec='torch-fp16-graph', context=T, skipped=graph_ms))
            print(json.dumps(rows[-1]), flush=True)
        row = dict(model=name, codec='torch-fp16', context=T, tokensPerSecond=1000 / wall, stepMs=wall, gpuStepMs=gpu,
                   attentionMs=attn, attentionShare=attn / gpu, cacheGiB=cache_bytes / 2**30, weightsGiB=weights_gib,
                   finite=bool(torch.isfinite(x).all().item()))
        rows.append(row)
        print(json.dumps(row), flush=True)
        del kc, vc
        torch.cuda.empty_cache()
    del layers
    torch.cuda.empty_cache()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='llama3-8b,llama2-7b')
    ap.add_argument('--contexts', default='4096,32768,131072,524288')
    ap.add_argument('--steps', type=int, default=12)
    ap.add_argument('--margin-gib', type=float, default=2.0)
    ap.add_argument('--graph', action='store_true', help='also time the step as one replayed CUDA graph at a fixed position')
    ap.add_argument('--out', default='')
    a = ap.parse_args()
    ctxs = [int(c) for c in a.contexts.split(',')]
    out = dict(torch=torch.__version__, device=torch.cuda.get_device_name(0), command=' '.join(sys.argv[1:]),
               memGiB=torch.cuda.get_device_properties(0).total_memory / 2**30, rows=[])
    for name in a.models.split(','):
        out['rows'] += run_model(name, MODELS[name], ctxs, a.steps, a.margin_gib, a.graph)
    s = json.dumps(out, indent=1)
    if a.out:
        open(a.out, 'w').write(s)
    print(json.dumps(dict(device=out['device'], torch=out['torch'])))


if __name__ == '__main__':
    main()
