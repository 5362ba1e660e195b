/**
 * A LocalCluster of worker processes with mutual TLS on every connection
 * (Security.temporary()): it computes, moves 20 MB between workers, runs an
 * actor and a Lock from tasks; strangers are refused in the handshake and the
 * cluster keeps working.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Client, EncryptionRequiredError, LocalCluster, Lock, Security, TlsHandshakeError } from '../dist/index.js';

const noCertClient = fileURLToPath(new URL('./fixtures/tls-client-no-cert.mjs', import.meta.url));

function portOf(address: string): number {
  return Number(/:(\d+)$/.exec(address)![1]);
}

/** What a node:tls socket without a certificate hears from `address`. */
function dialWithoutCertificate(address: string): Promise<{ error: string | undefined; received: number }> {
  return new Promise((resolve) => {
    let error: string | undefined;
    let received = 0;
    const socket = tls.connect({ host: '127.0.0.1', port: portOf(address), rejectUnauthorized: false });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('secureConnect', () => socket.write(Buffer.from([0, 0, 0, 1, 0])));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve({ error, received }));
  });
}

function runNoCertClient(address: string): Promise<{ connected: boolean; name?: string; message?: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [noCertClient, address], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch (error) {
        reject(new Error(`no-cert client printed ${JSON.stringify(out)}: ${String(error)}`));
      }
    });
  });
}

t.test('a TLS cluster of processes computes, moves 20 MB, runs an actor and a Lock, and refuses strangers', async (t) => {
  const security = await Security.temporary();
  t.equal(security.requireEncryption, true, 'temporary credentials require encryption');
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1, security });
  t.teardown(() => cluster.close());
  t.match(cluster.schedulerAddress, /^tls:\/\/127\.0\.0\.1:\d+$/, 'the scheduler listens on tls://');
  const workers = cluster.workerAddresses;
  t.equal(workers.length, 2);
  for (const address of workers) t.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/, 'each worker listens on tls://');
  for (const nanny of cluster.nannies) t.match(nanny.address, /^tls:\/\//, 'each nanny listens on tls://');

  const client = await Client.connect(cluster.schedulerAddress, { security });
  t.teardown(() => client.close());
  t.equal(await client.submit((x: number) => x + 1, 41).result(), 42, 'a task runs over TLS');
  const squares = await client.gather(client.map((x: number) => x * x, Array.from({ length: 20 }, (_, i) => i)));
  t.equal(squares.reduce((a, b) => a + b, 0), 2470);

  // 20 MB made on one worker, used on the other: the second fetches it from the first, over TLS.
  const [first, second] = workers as [string, string];
  const big = client.with({ workers: [first], allowOtherWorkers: false }).submit((n: number) => new Uint8Array(n).fill(7), 20_000_000);
  const summed = client.with({ workers: [second], allowOtherWorkers: false }).submit(
    (bytes: Uint8Array) => bytes.length + bytes[12_345]! + bytes[bytes.length - 1]!,
    big,
  );
  t.equal(await summed.result(), 20_000_014, 'the second worker read all 20 MB');
  const holders = await client.whoHas([big]);
  t.same(Object.values(holders)[0]!.slice().sort(), [first, second].sort(), 'both workers hold the 20 MB value');
  const fetched = await big.result();
  t.equal(fetched.length, 20_000_000, 'the client fetched it from a worker directly');

  class Counter {
    n = 0;
    increment(by: number): number {
      this.n += by;
      return this.n;
    }
  }
  const counter = await client.with({ actor: true }).submit(Counter).result();
  await counter.increment(2);
  t.equal(await counter.increment(3), 5, 'actor calls reach their worker over TLS');
  t.equal(await counter.n, 5);

  // Tasks in the worker processes take a Lock through their own clients (TLS, from their threads).
  const lock = new Lock('tls-lock', { client });
  t.equal(await lock.acquire({ timeout: 5000 }), true, 'this client holds the lock');
  const contender = client.with({ pure: false }).submit(async () => {
    const dts = await import('distributed-ts');
    const inTask = new dts.Lock('tls-lock');
    const got = await inTask.acquire({ timeout: 200 });
    if (got) await inTask.release();
    return got;
  });
  t.equal(await contender.result(), false, 'a task cannot take the lock this client holds');
  await lock.release();
  const taker = client.with({ pure: false }).submit(async () => {
    const dts = await import('distributed-ts');
    const inTask = new dts.Lock('tls-lock');
    const got = await inTask.acquire({ timeout: 10_000 });
    await inTask.release();
    return got;
  });
  t.equal(await taker.result(), true, 'once released, a task takes it');

  // Another CA: refused in the handshake, within the timeout, with a clear typed error.
  const stranger = await Security.temporary();
  const refused = await Client.connect(cluster.schedulerAddress, { security: stranger, timeout: 5000 }).then(
    (c) => c.close().then(() => undefined),
    (error: unknown) => error,
  );
  t.ok(refused instanceof TlsHandshakeError, `another CA's client is refused (${String(refused)})`);
  t.match(String((refused as Error).message), /TLS handshake with tls:\/\/127\.0\.0\.1:\d+ failed: .*(not signed by our CA|refused our certificate)/);

  // No certificate at all: a Client says so at once; a raw TLS socket is refused by the server.
  const noCert = await runNoCertClient(cluster.schedulerAddress);
  t.equal(noCert.connected, false, 'a client without credentials cannot connect');
  t.equal(noCert.name, 'SecurityError');
  t.match(noCert.message, /without TLS credentials/);
  const raw = await dialWithoutCertificate(cluster.schedulerAddress);
  t.equal(raw.error, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'the scheduler demands a certificate in the handshake');
  t.equal(raw.received, 0, 'and answers nothing else');
  const rawWorker = await dialWithoutCertificate(first);
  t.equal(rawWorker.error, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'so does a worker');

  // Garbage at the TLS port: dropped; the cluster keeps computing.
  const garbage = await new Promise<string>((resolve) => {
    const socket = net.connect(portOf(cluster.schedulerAddress), '127.0.0.1', () => {
      socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02 not tls at all'));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve('closed'));
  });
  t.equal(garbage, 'closed', 'the scheduler hung up on garbage');
  t.equal(await client.submit((x: number) => x * 2, 21).result(), 42, 'and still computes');

  // requireEncryption: plain TCP is refused with a typed error, before any socket.
  const plain = await Client.connect('tcp://127.0.0.1:1', { security, timeout: 2000 }).then(() => undefined, (error: unknown) => error);
  t.ok(plain instanceof EncryptionRequiredError, 'a tcp:// address is refused under requireEncryption');
  t.match(String((plain as Error).message), /encryption is required/);
});
