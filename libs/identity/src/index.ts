export * from './identity.service';
export * from './auth.controller';
export * from './identity.module';
