/**
 * Deployment figures:
 * - `dcluster` over SSH to 127.0.0.1 (a real sshd started here): from
 *   spawning the command to a client's first result, beside the same
 *   cluster shape started in-process as LocalCluster({ processes: true });
 * - adapt(): from a burst's arrival to the first task on a worker the loop
 *   added, beside scale() starting one worker process directly and running a
 *   task on it (what adapt cannot beat: it also has to notice the burst).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import type { BenchRow } from './report.js';
import { startSshd, unusedPort } from './sshd-server.js';

const group = 'deploy';
const DCLUSTER = fileURLToPath(new URL('../bin/dcluster.js', import.meta.url));

/** ms from spawning dcluster (2 hosts = 127.0.0.1 twice) to the first result of a client connected to it. */
async function dclusterFirstResultMs(): Promise<number> {
  const sshd = await startSshd();
  try {
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [DCLUSTER, '127.0.0.1', '127.0.0.1', '--ssh-port', String(sshd.port), '--ssh-private-key', sshd.key,
        '--ssh-option', `UserKnownHostsFile=${sshd.sshOptions.UserKnownHostsFile}`, '--remote-node', process.execPath,
        '--scheduler-port', String(await unusedPort()), '--nthreads', '1'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          const match = /Scheduler at (\S+)/.exec(out);
          if (match !== null) resolve(match[1]!);
        });
        child.on('close', (code) => reject(new Error(`dcluster exited (${code}) before the cluster was up`)));
      });
      const client = await Client.connect(address);
      try {
        await client.submit((x: number) => x + 1, 1).result();
        return performance.now() - t0;
      } finally {
        await client.close();
      }
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  } finally {
    await sshd.stop();
  }
}

/** The same shape without SSH: LocalCluster with 2 worker processes, a client, one result. */
async function localFirstResultMs(): Promise<number> {
  const t0 = performance.now();
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: true });
  try {
    const client = await Client.connect(cluster.schedulerAddress);
    try {
      await client.submit((x: number) => x + 1, 1).result();
      return performance.now() - t0;
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

/** Runs on a worker: which process, and when it started the task. */
const stamp = async (i: number): Promise<[number, number, number]> => {
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return [process.pid, started, i];
};

/** ms from a burst's submission to the first task started on a worker that adapt() added. */
async function adaptReactionMs(): Promise<number> {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, processes: true });
  try {
    const client = await Client.connect(cluster);
    try {
      const [original] = Object.values(await client.run(() => process.pid));
      const adaptive = cluster.adapt({ minimum: 1, maximum: 3, interval: '200ms', wait: '2s', targetDuration: '1s' });
      try {
        const t0 = Date.now();
        const results = await client.gather(client.map(stamp, Array.from({ length: 60 }, (_, i) => i)));
        const added = results.filter(([pid]) => pid !== original).map(([, started]) => started);
        if (added.length === 0) throw new Error('adapt added no worker that ran a task');
        return Math.min(...added) - t0;
      } finally {
        await adaptive.stop();
      }
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

/** ms from scale(2) on a 1-worker cluster to the first task run on the new worker. */
async function scaleUpFirstTaskMs(): Promise<number> {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, processes: true });
  try {
    const client = await Client.connect(cluster);
    try {
      const before = new Set(cluster.workerAddresses);
      const t0 = Date.now();
      await cluster.scale(2);
      const fresh = cluster.workerAddresses.find((address) => !before.has(address))!;
      const [, started] = await client.with({ workers: [fresh], pure: false }).submit(stamp, 0).result();
      return started - t0;
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const repeats = opts.quick ? 1 : 3;
  const ssh: number[] = [];
  const local: number[] = [];
  const adapt: number[] = [];
  const scale: number[] = [];
  for (let i = 0; i < repeats; i++) {
    ssh.push(await dclusterFirstResultMs());
    local.push(await localFirstResultMs());
    adapt.push(await adaptReactionMs());
    scale.push(await scaleUpFirstTaskMs());
  }
  return [
    {
      group, workload: 'dcluster 2 hosts (ssh 127.0.0.1): start to first result', ours: median(ssh), baseline: median(local),
      baselineName: 'LocalCluster 2 processes', unit: 'ms', higherIsBetter: false, target: '≤ 10 s',
    },
    {
      group, workload: 'adapt (interval 200 ms): burst to first task on an added worker', ours: median(adapt), baseline: median(scale),
      baselineName: 'scale(n+1) to its first task', unit: 'ms', higherIsBetter: false, target: '≤ 5 s',
    },
  ];
}
