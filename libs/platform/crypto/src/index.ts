export * from './errors';
export * from './kms';
export * from './local-kms';
export * from './transit-kms';
export * from './tenant-keyring';
export * from './kek-rotation';
export * from './field-cipher';
export * from './crypto.providers';
