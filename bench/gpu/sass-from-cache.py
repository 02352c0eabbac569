"""SASS of the WGSL kernels as the NVIDIA driver compiled them, from its shader disk cache (ncu
does not see Vulkan dispatches, so this is the way to read what the H100 runs).

On the GPU machine: run the program with the driver's cache in a fresh folder, then this script:
  export __GL_SHADER_DISK_CACHE=1 __GL_SHADER_DISK_CACHE_PATH=/tmp/nvc __GL_SHADER_DISK_CACHE_SKIP_CLEANUP=1
  node build/bench/gpu-attention.js ...            # compiles and runs the kernels
  python3 bench/gpu/sass-from-cache.py /tmp/nvc OUTDIR
The GPU machine has nvdisasm but no zstd: bring the cache back, then
  python3 bench/gpu/sass-from-cache.py --extract CACHE OUTDIR     (here: kNN.bin, needs zstd)
  python3 bench/gpu/sass-from-cache.py --disasm OUTDIR            (there: kNN.sass, summary.txt)
Cache entries (*.bin) hold zstd frames; the compiled ones start with 'NVDANVVMNVuc' and carry a
section table whose first entry (type 1 at byte 0x48: size, then the offset at 0x50, + 8) is the
raw instruction stream, which `nvdisasm --binary SM90` reads. Layout found by inspection on
driver 580.159.04 (not documented by NVIDIA). Writes OUTDIR/kNN.sass (disassembly) and
OUTDIR/summary.txt (instructions per kernel, by opcode), largest kernel first.
"""
import collections
import glob
import os
import re
import shutil
import struct
import subprocess
import sys

ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'


def zstd_decompress(frame: bytes) -> bytes:
    try:
        import zstandard  # type: ignore
        return zstandard.ZstdDecompressor().decompressobj().decompress(frame)
    except ImportError:
        pass
    if shutil.which('zstd') is None:
        raise SystemExit('need the zstd command or the zstandard module')
    # trailing bytes after the frame make zstd exit non-zero after writing the frame
    return subprocess.run(['zstd', '-dc'], input=frame, capture_output=True).stdout


def code_sections(cache_dir: str):
    for path in sorted(glob.glob(os.path.join(cache_dir, '**', '*.bin'), recursive=True)):
        data = open(path, 'rb').read()
        starts = [m.start() for m in re.finditer(re.escape(ZSTD_MAGIC), data)]
        for i, s in enumerate(starts):
            raw = zstd_decompress(data[s:starts[i + 1] if i + 1 < len(starts) else len(data)])
            if not raw.startswith(b'NVDANVVMNVuc'):
                continue
            kind, size = struct.unpack_from('<II', raw, 0x48)
            off = struct.unpack_from('<I', raw, 0x50)[0] + 8
            if kind == 1 and off + size <= len(raw):
                yield raw[off:off + size]


INSTR = re.compile(r'\s*/\*([0-9a-f]+)\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)(.*)')


def loop_counts(sass: str):
    """Opcodes between the target and the source of the longest backward branch (a kernel's main
    loop: the tile loop of the attention kernels), or None."""
    instrs = [(int(m.group(1), 16), m.group(3), m.group(4)) for m in map(INSTR.match, sass.splitlines()) if m]
    best = None
    for addr, op, rest in instrs:
        t = re.match(r'\s*0x([0-9a-f]+)', rest)
        if op == 'BRA' and t and int(t.group(1), 16) < addr:
            span = (int(t.group(1), 16), addr)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    if best is None:
        return None
    ops = collections.Counter(op.split('.')[0] for addr, op, _ in instrs if best[0] <= addr <= best[1])
    return f'0x{best[0]:x}-0x{best[1]:x}', ops


def extract(cache_dir: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for k, code in enumerate(sorted(code_sections(cache_dir), key=len, reverse=True)):
        open(os.path.join(out, f'k{k:02d}.bin'), 'wb').write(code)


def disasm(out: str) -> None:
    lines = []
    for k, binp in enumerate(sorted(glob.glob(os.path.join(out, 'k*.bin')))):
        sass = subprocess.run(['nvdisasm', '--binary', 'SM90', binp], capture_output=True, text=True).stdout
        open(os.path.join(out, f'k{k:02d}.sass'), 'w').write(sass)
        ops = collections.Counter()
        for line in sass.splitlines():
            m = re.match(r'\s*/\*[0-9a-f]+\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)', line)
            if m:
                ops[m.group(2).split('.')[0]] += 1
        n = sum(ops.values())
        lines.append(f'k{k:02d}: {n} instructions; ' + ', '.join(f'{o} {c}' for o, c in ops.most_common(25)))
        loop = loop_counts(sass)
        if loop:
            lines.append(f'  longest loop {loop[0]}: {sum(loop[1].values())} instructions; '
                         + ', '.join(f'{o} {c}' for o, c in loop[1].most_common(12)))
    open(os.path.join(out, 'summary.txt'), 'w').write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main() -> None:
    if sys.argv[1] == '--extract':
        extract(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == '--disasm':
        disasm(sys.argv[2])
    else:
        extract(sys.argv[1], sys.argv[2])
        disasm(sys.argv[2])


if __name__ == '__main__':
    main()
