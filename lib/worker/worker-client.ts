/**
 * The client a worker's tasks share (one per thread): made on first use
 * through the client port (lib/task-context.ts), returned at once and
 * connecting in the background, never the process's default client (so an
 * in-process worker's client does not stand in for the user's). A client
 * whose connection failed is replaced on the next use.
 */
import { DistributedError } from '../errors.js';
import { clientPort, type RegisteredClient } from '../task-context.js';

export class WorkerClient {
  private current: RegisteredClient | undefined;
  private closed = false;

  constructor(
    private readonly schedulerAddress: string,
    private readonly name: string,
    /** The worker's address: the scheduler stops waiting for this client (after a blip) once that worker is gone. */
    private readonly worker?: string,
  ) {}

  /** The worker's client (made, and connecting, on the first call). */
  client(): RegisteredClient {
    if (this.closed) throw new DistributedError('the worker is closing: its client is gone');
    if (this.current === undefined || this.current.status === 'closed') {
      this.current = clientPort().workerClient(this.schedulerAddress, this.name, this.worker);
    }
    return this.current;
  }

  /** Closes the client if there is one. */
  async close(): Promise<void> {
    this.closed = true;
    await this.current?.close();
  }
}
