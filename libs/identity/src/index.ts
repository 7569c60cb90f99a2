export * from './identity.service';
export * from './authentication';
export * from './auth.controller';
export * from './identity.module';
