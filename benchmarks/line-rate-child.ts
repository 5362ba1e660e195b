/**
 * The far end of benchmarks/line-rate.ts's bare TCP baseline, in a process
 * of its own as a worker process is. Two connections, each read by the side
 * that dialed it through `onread` (framed-reads.ts): this process dials the
 * benchmark's port (argv[2]) to receive, and the benchmark dials the port
 * printed on stdout to receive what is sent back. Each whole message is sent
 * back as it is. Exits when stdin ends.
 */
import { dialFramedReceiver, listenOnce, writeFramed } from './framed-reads.js';

const back = await listenOnce();
process.stdout.write(`${back.port}\n`);
const sender = await back.accepted;
await dialFramedReceiver(Number(process.argv[2]), (value) => writeFramed(sender, value));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
