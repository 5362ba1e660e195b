export { InvalidTransitionError } from '../machines/transition-table.js';
