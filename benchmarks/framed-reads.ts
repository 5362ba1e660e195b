/**
 * Bare node:net plumbing for benchmarks/line-rate.ts's baseline: messages
 * as a u64 LE length then the bytes, each received by a socket dialed with
 * `onread` straight into one fresh buffer of that length (the kernel writes
 * the bytes where they stay, no copy in JavaScript): the least a receiver
 * that keeps what it gets can do. Not a benchmark module (no `run`).
 */
import { once } from 'node:events';
import net from 'node:net';

/** Dials 127.0.0.1:`port` and calls `onMessage` with each whole message received on that socket. */
export async function dialFramedReceiver(port: number, onMessage: (value: Buffer) => void): Promise<net.Socket> {
  const header = Buffer.alloc(8);
  let headerFilled = 0;
  let value: Buffer | undefined;
  let filled = 0;
  const socket = net.connect({
    host: '127.0.0.1',
    port,
    noDelay: true,
    onread: {
      buffer: () => (value === undefined ? header.subarray(headerFilled) : value.subarray(filled)),
      callback: (bytes: number) => {
        if (value === undefined) {
          headerFilled += bytes;
          if (headerFilled < 8) return true;
          headerFilled = 0;
          value = Buffer.allocUnsafeSlow(Number(header.readBigUInt64LE(0)));
          filled = 0;
        } else {
          filled += bytes;
        }
        if (value.length === filled) {
          const whole = value;
          value = undefined;
          onMessage(whole);
        }
        return true;
      },
    },
  });
  await once(socket, 'connect');
  return socket;
}

/** Writes one message (length, then `payload`) in one corked writev. */
export function writeFramed(socket: net.Socket, payload: Uint8Array): void {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(payload.byteLength));
  socket.cork();
  socket.write(prefix);
  socket.write(payload);
  socket.uncork();
}

/** A server on 127.0.0.1 (free port) whose first accepted socket `accepted` resolves to. */
export async function listenOnce(): Promise<{ port: number; accepted: Promise<net.Socket>; close: () => void }> {
  let resolve!: (socket: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (resolve = r));
  const server = net.createServer({ noDelay: true }, (socket) => resolve(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, accepted, close: () => server.close() };
}
