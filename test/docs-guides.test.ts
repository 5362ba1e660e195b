/**
 * The user guides cannot drift from the code: every fenced block opened with
 * ```ts runnable in docs/guide/*.md is type-checked with the project's
 * TypeScript against the built package, has its types stripped, and runs in
 * its own Node process (importing 'distributed-ts' resolves to dist/ by the
 * package's self-reference). A ```text block right after it is the output it
 * must print, line for line.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const guides = join(root, 'docs', 'guide');
// Inside the package (so 'distributed-ts' resolves to it) and outside git (dist/ is ignored).
const blocksDir = join(root, 'dist', 'doc-blocks');

interface Block {
  guide: string;
  line: number;
  code: string;
  expected: string | undefined;
  file: string;
}

/** The runnable blocks of one Markdown file, each with the output block that follows it, if any. */
function extractBlocks(path: string): Block[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const guide = relative(root, path);
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s+runnable\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const code = lines.slice(start, end).join('\n');
    let next = end + 1;
    while (next < lines.length && lines[next]!.trim() === '') next++;
    let expected: string | undefined;
    if (next < lines.length && /^```text\b/.test(lines[next]!)) {
      let close = next + 1;
      while (close < lines.length && !/^```\s*$/.test(lines[close]!)) close++;
      expected = lines.slice(next + 1, close).join('\n');
    }
    const name = `${guide.replace(/[^A-Za-z0-9]+/g, '-')}-${start}`;
    blocks.push({ guide, line: start, code, expected, file: join(blocksDir, `${name}.ts`) });
    i = end;
  }
  return blocks;
}

function run(file: string, cwd: string, timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Without tap's loaders (NODE_OPTIONS): the block runs as a user's program would.
  const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

// About 25 blocks, each a Node process starting its own cluster: more than the default file timeout on a loaded machine.
t.setTimeout(600_000);

const files = readdirSync(guides).filter((name) => name.endsWith('.md')).sort();
const blocks = files.flatMap((name) => extractBlocks(join(guides, name)));

t.ok(blocks.length >= files.length, 'the guides have runnable blocks');

rmSync(blocksDir, { recursive: true, force: true });
mkdirSync(blocksDir, { recursive: true });
for (const block of blocks) {
  // A block without import/export would be a script, where top-level await is not allowed.
  const source = /^\s*(import|export)\s/m.test(block.code) ? block.code : `${block.code}\nexport {};\n`;
  writeFileSync(block.file, source);
}

t.test('every runnable block type-checks against the built package', async (t) => {
  const program = ts.createProgram(
    blocks.map((block) => block.file),
    {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
    },
  );
  const diagnostics = ts.getPreEmitDiagnostics(program);
  for (const block of blocks) {
    const own = diagnostics
      .filter((d) => d.file?.fileName === block.file)
      .map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `line ${block.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    t.same(own, [], `${block.guide}:${block.line} type-checks`);
  }
  const elsewhere = diagnostics.filter((d) => !blocks.some((block) => block.file === d.file?.fileName));
  t.same(elsewhere.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), [], 'no global type errors');
});

for (const block of blocks) {
  t.test(`${block.guide}:${block.line} runs`, async (t) => {
    const js = ts.transpileModule(readFileSync(block.file, 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    const script = block.file.replace(/\.ts$/, '.mjs');
    writeFileSync(script, js);
    const cwd = mkdtempSync(join(tmpdir(), 'doc-block-'));
    t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
    const { code, stdout, stderr } = await run(script, cwd);
    t.equal(code, 0, stderr === '' ? 'exits 0' : `exits 0 (stderr: ${stderr.slice(0, 2000)})`);
    if (block.expected !== undefined) {
      t.equal(stdout.trimEnd(), block.expected.trimEnd(), 'prints what the guide says');
    }
  });
}

t.test('troubleshooting.md has a section for every error class the package exports', async (t) => {
  const api = (await import('../dist/index.js')) as Record<string, unknown>;
  const text = readFileSync(join(guides, 'troubleshooting.md'), 'utf8');
  const sections = new Set([...text.matchAll(/^### (\w+)\s*$/gm)].map((match) => match[1]));
  const errorClasses = Object.entries(api)
    .filter(([, value]) => typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof Error)
    .map(([name]) => name);
  t.ok(errorClasses.length > 10, 'the package exports its error classes');
  for (const name of errorClasses) {
    t.ok(sections.has(name), `docs/guide/troubleshooting.md needs a "### ${name}" section (what it means, what to do)`);
  }
});
