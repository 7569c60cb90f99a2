export * from './draft-composer';
