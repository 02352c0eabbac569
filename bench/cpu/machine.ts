/** The machine a CPU benchmark ran on, as written into its JSON and table header. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuMachine {
  cpuModel: string;
  /** Logical CPUs the OS reports (os.cpus()). */
  logicalCpus: number;
  /** "cpu cores" of /proc/cpuinfo (physical cores per package), when the kernel reports it. */
  physicalCores?: number;
  /** SIMD-related CPU flags (avx2, avx512f, ...) from /proc/cpuinfo. */
  simdFlags: string[];
  memoryGiB: number;
  node: string;
  v8: string;
  platform: string;
}

export function describeMachine(): CpuMachine {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: os.cpus() still names the model
  }
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  const flags = (field('flags') ?? '').split(/\s+/);
  const cores = Number(field('cpu cores'));
  return {
    cpuModel: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    logicalCpus: os.cpus().length,
    ...(Number.isFinite(cores) && cores > 0 ? { physicalCores: cores } : {}),
    simdFlags: ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni'].filter((f) => flags.includes(f)),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
  };
}
