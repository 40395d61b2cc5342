import { describe, expect, it } from 'vitest';
import { cycles, graph, specifiers } from './imports.js';

describe('the module graph', () => {
  it('reads every kind of import', () => {
    expect(specifiers(`import a from './a.js';\nimport type { B } from "./b.js";\nexport { c } from './c.js';\nimport './d.js';\nconst e = await import('./e.js');\n// import x from './x.js';\nimport { y } from 'node:fs';`))
      .toEqual(['./a.js', './b.js', './c.js', './d.js', './e.js']);
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['d']], ['e', ['a']]]))).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('has no import cycles in src/ (type-only imports count: lower layers do not import higher ones)', () => {
    expect(cycles(graph(['src']))).toEqual([]);
  });

  it('has no import cycles in assembly/', () => {
    expect(cycles(graph(['assembly']))).toEqual([]);
  });
});
