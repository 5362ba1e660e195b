/**
 * A pool thread's large garbage. A task that builds a 10 MB array and
 * returns it leaves that array behind in the thread once its encoded copy has
 * gone to the worker; V8 collects the thread's small heap rarely, and counts
 * the external bytes only loosely, so each thread can sit on tens of
 * megabytes of dead buffers: process memory the worker's limit counts
 * (unmanaged), which can pause the worker or get it restarted while its
 * managed memory is at the target. So a thread collects its garbage after
 * it has handled THREAD_GC_BYTES of values (results and dependencies); its
 * heap is small, so a collection costs a few milliseconds, per megabytes
 * copied anyway.
 */
export const THREAD_GC_BYTES = 4 * 1024 * 1024;

export class LargeGarbageMeter {
  private bytes = 0;

  constructor(readonly threshold: number = THREAD_GC_BYTES) {}

  /** Counts `bytes` handled; true (and starts counting again) once the threshold is reached. */
  handled(bytes: number): boolean {
    this.bytes += bytes;
    if (this.bytes < this.threshold) return false;
    this.bytes = 0;
    return true;
  }
}
