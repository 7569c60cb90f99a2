/**
 * Tenant tables an archive leaves out, and why (written into every manifest). Everything else with
 * a tenant_id column is archived, whichever service owns it, including the inbox: it records which
 * events the archived rows already reflect, so an event delivered again after a restore is not
 * applied twice.
 */
export const EXCLUDED_TABLES: Readonly<Record<string, string>> = {
  outbox:
    'events on their way to Kafka, not tenant state: published ones are delivered history the relay never reads again; those unpublished at the snapshot are published moments later, and writing them back on restore would deliver them a second time to consumers outside the restored rows (model calls, mail); a restore with replace keeps the target outbox rows not yet published',
};

/** The action of a backup or restore as it goes into the tenant's audit log (access.recorded), besides the gateway's entry of the request. */
export const AUDIT_RESOURCE = 'tenant-archive';
