export * from './embedded-databases';
export { EmbeddedPgServer, type EmbeddedServerOptions } from './embedded-server';
export { EmbeddedMaintenance } from './embedded-maintenance';
