export * from './config';
export * from './settings';
export * from './store-unavailable';
export * from './run-mode';
export * from './pid-lock';
