export * from './identity.service';
export * from './auth.controller';
export * from './identity.module';
export * from './api-keys.service';
export * from './api-keys.controller';
export * from './platform-operators';
