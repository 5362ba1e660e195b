/** client.uploadFile: every worker gets the module, also one that joins later; tasks import it as upload:<name>. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Client, Nanny, Scheduler, remote } from '../dist/index.js';

t.test('an uploaded module is importable on current and later workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-upload-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'shout.mjs');
  writeFileSync(file, "export function shout(s) { return `${s.toUpperCase()}! from ${process.pid}`; }\n");

  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const first = await Nanny.start(scheduler.address, { nthreads: 1, name: 'first' });
  t.teardown(() => first.close());
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());

  await client.uploadFile(file);
  const shout = remote('upload:shout.mjs', 'shout');
  t.equal(await client.submit<string>(shout, 'hi').result(), `HI! from ${first.workerPid}`);

  const later = await Nanny.start(scheduler.address, { nthreads: 1, name: 'later' });
  t.teardown(() => later.close());
  const onLater = client.with({ workers: [later.workerAddress!] }).submit<string>(shout, 'again');
  t.equal(await onLater.result(), `AGAIN! from ${later.workerPid}`, 'a worker that joined after the upload has it');

  const uploadDir = await client.with({ workers: [later.workerAddress!] }).run(async () => {
    const { existsSync } = await import('node:fs');
    const { tmpdir: tmp } = await import('node:os');
    return existsSync(`${tmp()}/distributed-ts-${process.pid}-uploads/shout.mjs`);
  });
  t.same(Object.values(uploadDir), [true], 'kept in the process upload directory');

  await t.rejects(client.submit(remote('upload:missing.mjs', 'f')).result(), /missing\.mjs|Cannot find/);
  const viaImport = client.submit(async (s: string) => {
    const { importUploaded } = await import('distributed-ts');
    const mod = await importUploaded<{ shout(s: string): string }>('shout.mjs');
    return mod.shout(s);
  }, 'inside');
  t.match(await viaImport.result(), /^INSIDE! from \d+$/, 'a task body imports the uploaded module with importUploaded');
  const missing = client.submit(async () => (await import('distributed-ts')).importUploaded('absent.mjs'));
  await t.rejects(missing.result(), { message: /no uploaded file "absent\.mjs".*client\.uploadFile/ });
});

t.test('bad upload names are refused with a clear error', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const client = await Client.connect(scheduler);
  t.teardown(() => client.close());
  await t.rejects(client.uploadFile(join(tmpdir(), 'does-not-exist-dts.mjs')), { code: 'ENOENT' });
  const { connectRpc } = await import('../dist/lib/comm/rpc.js');
  const rpc = await connectRpc(scheduler.address);
  t.teardown(() => rpc.close());
  await t.rejects(rpc.call({ op: 'upload_file', filename: '../escape.mjs', data: new Uint8Array(1) }), /plain file name/);
  await t.rejects(rpc.call({ op: 'upload_file', filename: 'x.mjs', data: 'text' }), /data must be bytes/);
});
