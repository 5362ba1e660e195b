/**
 * Thread side of the raw baselines (baselines.ts). As a piscina task module it
 * exports a handler that returns its argument; started as a plain Worker with
 * `workerData.mode === 'echo'` it echoes every message on the given port.
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';

export default function noop(value: unknown): unknown {
  return value;
}

interface EchoData {
  mode: 'echo';
  port: MessagePort;
}

function isEchoData(data: unknown): data is EchoData {
  return typeof data === 'object' && data !== null && (data as { mode?: unknown }).mode === 'echo';
}

if (!isMainThread && isEchoData(workerData)) {
  const port = workerData.port;
  port.on('message', (message: unknown) => port.postMessage(message));
}
