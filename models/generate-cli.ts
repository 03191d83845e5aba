import { ensureModels, MODELS_DIR } from './generate.js';

const written = ensureModels();
if (written.length > 0) console.log(`ferry: generated ${written.join(', ')} in ${MODELS_DIR}`);
