/* global module */
// Import rules for src/, checked by `npm run lint` (depcruise) and printed by `npm run deps:graph`.
// Type-only imports count: a folder that names another folder's types depends on it.

// The one folder cycle still allowed: token <-> refresher. Removed by the credential engine.
// Exempting the two folders as importers exempts only that pair: any other cycle passes through a
// third folder, and that folder's own arrow in the cycle still fails the rule.
const ALLOWED_FOLDER_CYCLE = '^src/(token|refresher)$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment:
        'Folders under src/ import downwards only: no folder reaches itself through imports.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/', pathNot: ALLOWED_FOLDER_CYCLE },
      to: { circular: true },
    },
    {
      name: 'no-file-cycle',
      comment: 'No module reaches itself through imports.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
