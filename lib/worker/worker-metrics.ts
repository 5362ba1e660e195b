/**
 * What a worker reports with each heartbeat for the dashboard and /metrics:
 * CPU use of its process since the last beat, resident memory (the process's
 * RSS: for a worker under a nanny this is the worker process the nanny
 * watches), the bytes of results it holds, busy threads, and transfers in and
 * out so far. Reading these costs two syscalls per heartbeat.
 */
import { cpuUsage, memoryUsage } from 'node:process';

export interface WorkerMetrics {
  /** Percent of one core since the previous beat (may exceed 100 with several threads). */
  cpu: number;
  rss: number;
  managedBytes: number;
  busyThreads: number;
  transfersIn: number;
  transferBytesIn: number;
  transfersOut: number;
  transferBytesOut: number;
}

export class WorkerMetricsMeter {
  transfersIn = 0;
  transferBytesIn = 0;
  transfersOut = 0;
  transferBytesOut = 0;
  private lastCpu = cpuUsage();
  private lastTime = performance.now();

  received(bytes: number): void {
    this.transfersIn++;
    this.transferBytesIn += bytes;
  }

  sent(bytes: number): void {
    this.transfersOut++;
    this.transferBytesOut += bytes;
  }

  read(managedBytes: number, busyThreads: number): WorkerMetrics {
    const now = performance.now();
    const cpu = cpuUsage(this.lastCpu);
    const elapsedMicros = (now - this.lastTime) * 1000;
    this.lastCpu = cpuUsage();
    this.lastTime = now;
    return {
      cpu: elapsedMicros > 0 ? Math.round((1000 * (cpu.user + cpu.system)) / elapsedMicros) / 10 : 0,
      rss: memoryUsage.rss(),
      managedBytes,
      busyThreads,
      transfersIn: this.transfersIn,
      transferBytesIn: this.transferBytesIn,
      transfersOut: this.transfersOut,
      transferBytesOut: this.transferBytesOut,
    };
  }
}
