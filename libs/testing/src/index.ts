export * from './world';
export * from './processes';
export * from './kafka-probe';
export * from './wait';
export * from './toy-saga';
export * from './accounts';
export * from './service-calls';
export * from './browser';
