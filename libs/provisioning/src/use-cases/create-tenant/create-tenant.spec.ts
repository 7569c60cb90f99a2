import { ProblemException } from '@hotdash/platform-http';
import { CreateTenantCommand } from './create-tenant.command';

const admin = { email: 'ada@acme.test' };

function problem(body: unknown): ProblemException {
  try {
    CreateTenantCommand.create(body, 'ops:spec', 'corr');
  } catch (e) {
    return e as ProblemException;
  }
  throw new Error('expected a problem');
}

describe('CreateTenantCommand.create', () => {
  it('accepts a sign-up, trimming the name and defaulting the model to the platform key', () => {
    expect(CreateTenantCommand.create({ name: ' Acme ', plan: 'enterprise', admin }, 'ops:spec', 'corr', 'key-1')).toMatchObject({
      signUp: { name: 'Acme', plan: 'enterprise', dedicatedShard: false, admin: { email: 'ada@acme.test', displayName: null }, model: { mode: 'platform' }, documents: [] },
      actorId: 'ops:spec',
      correlationId: 'corr',
      idempotencyKey: 'key-1',
    });
  });
  it('accepts an own model key and a dedicated shard for Enterprise', () => {
    const cmd = CreateTenantCommand.create({ name: 'Acme', plan: 'enterprise', dedicatedShard: true, admin, model: { mode: 'own', provider: 'openai', model: 'gpt-x', apiKey: 'sk-12345678' } }, 'a', 'c');
    expect(cmd.signUp).toMatchObject({ dedicatedShard: true, model: { mode: 'own', apiKey: 'sk-12345678', baseUrl: null } });
  });
  it.each([
    [{ name: 'Acme', plan: 'gold', admin }, 'invalid-plan'],
    [{ name: 'Acme', admin }, 'invalid-plan'],
    [{ name: 'Acme', plan: 'basic', admin, id: 'x' }, 'unknown-field'],
    [{ name: '', plan: 'basic', admin }, 'validation-failed'],
    [{ name: 'x'.repeat(10_000), plan: 'basic', admin }, 'validation-failed'],
    [{ name: 5, plan: 'basic', admin }, 'validation-failed'],
    [{ name: 'Acme', plan: 'basic', admin: { email: 'not an email' } }, 'invalid-email'],
    [{ name: 'Acme', plan: 'basic', admin, dedicatedShard: true }, 'dedicated-requires-enterprise'],
    [{ name: 'Acme', plan: 'basic', admin, model: { mode: 'own', provider: 'openai', model: 'm', apiKey: 'short' } }, 'invalid-model'],
    ['Acme', 'invalid-body'],
    [null, 'invalid-body'],
    [[], 'invalid-body'],
  ])('refuses %j with %s', (body, code) => {
    const p = problem(body);
    expect(p).toBeInstanceOf(ProblemException);
    expect(p.status).toBe(400);
    expect(p.code).toBe(code);
  });

  describe('on the public (anonymous) route', () => {
    const publicProblem = (body: unknown): ProblemException => {
      try {
        CreateTenantCommand.create(body, 'anonymous', 'corr', undefined, { public: true });
      } catch (e) {
        return e as ProblemException;
      }
      throw new Error('expected a problem');
    };
    it('takes a self-serve plan with the platform model', () => {
      const cmd = CreateTenantCommand.create({ name: 'Acme', plan: 'basic', admin, model: { mode: 'platform' } }, 'anonymous', 'c', undefined, { public: true });
      expect(cmd).toMatchObject({ publicSignUp: true, signUp: { plan: 'basic', dedicatedShard: false, model: { mode: 'platform' } } });
    });
    it.each([
      [{ name: 'Acme', plan: 'enterprise', admin }, /enterprise plan is set up by our team/],
      [{ name: 'Acme', plan: 'basic', admin, dedicatedShard: false }, /dedicated database/],
      [{ name: 'Acme', plan: 'enterprise', admin, dedicatedShard: true }, /enterprise plan/],
      [{ name: 'Acme', plan: 'basic', admin, model: { mode: 'own', provider: 'openai', model: 'gpt-x', apiKey: 'sk-12345678' } }, /model endpoint/],
      [{ name: 'Acme', plan: 'basic', admin, model: null }, /model endpoint/],
    ])('refuses %j with 403 not-self-serve', (body, detail) => {
      const p = publicProblem(body);
      expect([p.status, p.code]).toEqual([403, 'not-self-serve']);
      expect(p.detail).toMatch(detail);
    });
    it('still answers bad input with 400', () => {
      expect([publicProblem({ name: 'Acme', plan: 'gold', admin }).code, publicProblem('x').code]).toEqual(['invalid-plan', 'invalid-body']);
    });
  });
});
