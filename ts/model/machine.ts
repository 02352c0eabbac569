import os from 'node:os';

/** What ran a measurement, for JSON results and docs (numbers without a machine mean little). */
export function describeMachine(): { cpu: string; cores: number; memoryGiB: number; platform: string; runtime: string } {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    runtime: `node ${process.versions.node}`,
  };
}
