// One import site for the shared error type, so the runner's modules do not
// each depend on the store package's layout.
export { CairnError, isCairnError } from '@cairn/store';
export type { CairnErrorCode } from '@cairn/store';
