"""Peer baseline for kvpack's GPU bench: PyTorch scaled_dot_product_attention over an fp16 KV
cache, one decode query per sequence, and a device-to-device copy as the bandwidth reference.
Prints one JSON object; run on the device machine (python3 there holds PyTorch).

usage: python3 bench/gpu/torch_sdpa.py --contexts 4096,32768,131072,1048576 --out FILE
"""
import argparse, json, math, warnings
warnings.filterwarnings('ignore')
import torch
import torch.nn.functional as F


def median_ms(fn, iters=50, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth(gib=2):
    n = gib * (1 << 30) // 2
    a = torch.empty(n, dtype=torch.float16, device='cuda').uniform_()
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a), iters=20, warmup=3)
    return 2 * a.numel() * 2 / (ms * 1e-3)  # bytes read + written per second


def sdpa_case(batch, heads, kv_heads, d, ctx, backend):
    free = torch.cuda.mem_get_info()[0]
    need = 2 * batch * kv_heads * ctx * d * 2
    if need > 0.8 * free:
        return {'skipped': f'needs {need/2**30:.1f} GiB of fp16 cache, {free/2**30:.1f} GiB free'}
    k = torch.randn(batch, kv_heads, ctx, d, dtype=torch.float16, device='cuda')
    v = torch.randn_like(k)
    q = torch.randn(batch, heads, 1, d, dtype=torch.float16, device='cuda')
    gqa = heads != kv_heads
    from torch.nn.attention import sdpa_kernel, SDPBackend
    be = {'flash': SDPBackend.FLASH_ATTENTION, 'efficient': SDPBackend.EFFICIENT_ATTENTION,
          'math': SDPBackend.MATH, 'cudnn': SDPBackend.CUDNN_ATTENTION}[backend]
    def step():
        with sdpa_kernel(be):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
    try:
        ms = median_ms(step)
    except RuntimeError as err:
        return {'skipped': f'{backend}: {str(err).splitlines()[0][:160]}'}
    finally:
        pass
    # reference check against fp32 math on a slice, so a wrong fast path cannot win the table
    rel = None
    if batch * kv_heads * ctx <= 8 * 8 * 32768:  # fp32 reference only where it fits comfortably
        out = step().float()
        kk, vv = k.float(), v.float()
        if gqa:
            kk = kk.repeat_interleave(heads // kv_heads, dim=1); vv = vv.repeat_interleave(heads // kv_heads, dim=1)
        ref = torch.softmax((q.float() @ kk.transpose(-1, -2)) / math.sqrt(d), dim=-1) @ vv
        rel = float((out - ref).norm() / ref.norm())
        del kk, vv
    bytes_read = need
    del k, v
    torch.cuda.empty_cache()
    return {'ms': ms, 'bytes': bytes_read, 'gbps': bytes_read / (ms * 1e-3) / 1e9, 'rel_err_vs_fp32': rel}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--contexts', default='4096,32768,131072,1048576')
    ap.add_argument('--batches', default='1,8')
    ap.add_argument('--shapes', default='32x32x128,32x8x128')  # heads x kv_heads x head_dim
    ap.add_argument('--backends', default='flash,efficient,cudnn')
    ap.add_argument('--out', default='-')
    a = ap.parse_args()
    res = {'device': torch.cuda.get_device_name(), 'torch': torch.__version__,
           'copy_bytes_per_s': copy_bandwidth(), 'cases': []}
    for shape in a.shapes.split(','):
        h, kvh, d = map(int, shape.split('x'))
        for b in map(int, a.batches.split(',')):
            for ctx in map(int, a.contexts.split(',')):
                for be in a.backends.split(','):
                    r = sdpa_case(b, h, kvh, d, ctx, be)
                    r.update({'heads': h, 'kv_heads': kvh, 'head_dim': d, 'batch': b, 'context': ctx, 'backend': be})
                    res['cases'].append(r)
                    print(json.dumps(r), flush=True)
    s = json.dumps(res, indent=1)
    if a.out == '-':
        print(s)
    else:
        open(a.out, 'w').write(s)


if __name__ == '__main__':
    main()
