/**
 * Every export of the package root has a doc comment (TypeDoc's reference is
 * generated from them: `npm run docs`), and every exported class and function
 * a short `@example`. Read from the built declarations (dist/index.d.ts), so it
 * checks what users' editors and TypeDoc see.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const entry = fileURLToPath(new URL('../dist/index.d.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

const program = ts.createProgram([entry], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  skipLibCheck: true,
  types: ['node'],
});
const checker = program.getTypeChecker();
const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;

interface ExportDoc {
  name: string;
  kind: 'class' | 'function' | 'constant' | 'type';
  /** Where it is declared, as a source path (lib/...ts), for the failure message. */
  source: string;
  hasComment: boolean;
  hasExample: boolean;
}

function describeExport(exported: ts.Symbol): ExportDoc {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const flags = symbol.flags;
  const kind = flags & ts.SymbolFlags.Class ? 'class' : flags & ts.SymbolFlags.Function ? 'function' : flags & ts.SymbolFlags.Variable ? 'constant' : 'type';
  const declared = symbol.declarations?.[0]?.getSourceFile().fileName ?? entry;
  const source = declared.startsWith(root) ? declared.slice(root.length).replace(/^dist\//, '').replace(/\.d\.ts$/, '.ts') : declared;
  return {
    name: exported.name,
    kind,
    source,
    hasComment: ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '',
    hasExample: symbol.getJsDocTags(checker).some((tag) => tag.name === 'example'),
  };
}

const exports = checker.getExportsOfModule(moduleSymbol).map(describeExport);

t.ok(exports.length > 50, `the package root exports its API (${exports.length} names)`);

t.test('every export of the package root has a doc comment', async (t) => {
  for (const doc of exports) {
    t.ok(doc.hasComment, `${doc.name} (${doc.kind} in ${doc.source}) needs a /** doc comment */ above its declaration`);
  }
});

t.test('every exported class and function has an @example', async (t) => {
  for (const doc of exports.filter((d) => d.kind !== 'type')) {
    t.ok(doc.hasExample, `${doc.name} (${doc.kind} in ${doc.source}) needs an @example in its doc comment`);
  }
});
