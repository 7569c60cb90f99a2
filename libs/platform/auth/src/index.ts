export * from './keys';
export * from './errors';
export * from './tokens';
export * from './revocations';
export * from './credentials';
export * from './auth.module';
export * from './limits';
export * from './authentication';
