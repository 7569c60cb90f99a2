import { problemOf } from './problem.filter';

describe('problemOf', () => {
  it('answers a store that is down with 503 store-unavailable, saying to retry', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:54329'), { code: 'ECONNREFUSED' });
    expect(problemOf(refused).toProblem()).toMatchObject({ status: 503, code: 'store-unavailable', detail: expect.stringMatching(/Retry in a few seconds/) });
    expect(problemOf(Object.assign(new Error('the database system is starting up'), { code: '57P03' })).toProblem()).toMatchObject({ status: 503, code: 'store-unavailable' });
  });

  it('answers a transaction refused for want of a lock or its turn 503 database-busy (also wrapped), saying to retry; a statement timeout stays a 500', () => {
    expect(problemOf(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' })).toProblem()).toMatchObject({ status: 500 });
    for (const code of ['55P03', '40001', '40P01']) {
      const err = Object.assign(new Error('refused'), { code });
      expect(problemOf(err).toProblem()).toMatchObject({ status: 503, code: 'database-busy', detail: expect.stringMatching(/Retry in a few seconds/) });
      expect(problemOf(new Error('wrapped', { cause: err })).toProblem()).toMatchObject({ status: 503, code: 'database-busy' });
    }
  });

  it('keeps a failure of the work a 500', () => {
    expect(problemOf(new TypeError("Cannot read properties of undefined (reading 'id')")).toProblem()).toMatchObject({ status: 500 });
    expect(problemOf(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })).toProblem()).toMatchObject({ status: 500 });
  });
});
