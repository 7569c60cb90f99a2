import { ProblemException } from '@hotdash/platform-http';
import { CreateTenantCommand } from './create-tenant.command';

function problem(body: unknown): ProblemException {
  try {
    CreateTenantCommand.create(body, 'ops:spec', 'corr');
  } catch (e) {
    return e as ProblemException;
  }
  throw new Error('expected a problem');
}

describe('CreateTenantCommand.create', () => {
  it('accepts a name and a plan, trimming the name', () => {
    expect(CreateTenantCommand.create({ name: ' Acme ', plan: 'enterprise' }, 'ops:spec', 'corr')).toMatchObject({ name: 'Acme', plan: 'enterprise', actorId: 'ops:spec', correlationId: 'corr' });
  });
  it.each([
    [{ name: 'Acme', plan: 'gold' }, 'invalid-plan'],
    [{ name: 'Acme' }, 'invalid-plan'],
    [{ name: 'Acme', plan: 'basic', id: 'x' }, 'unknown-field'],
    [{ name: '', plan: 'basic' }, 'validation-failed'],
    [{ name: 5, plan: 'basic' }, 'validation-failed'],
    ['Acme', 'invalid-body'],
    [null, 'invalid-body'],
    [[], 'invalid-body'],
  ])('refuses %j with %s', (body, code) => {
    const p = problem(body);
    expect(p).toBeInstanceOf(ProblemException);
    expect(p.status).toBe(400);
    expect(p.code).toBe(code);
  });
});
