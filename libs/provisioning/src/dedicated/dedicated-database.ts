import { Inject, Injectable } from '@nestjs/common';
import { DEDICATED_DATABASE_NAME } from '@hotdash/contracts';
import type { PlatformConfig } from '@hotdash/platform-config';
import { PLATFORM_CONFIG, ShardInspector, type DbLocation } from '@hotdash/platform-db';

/** The database the owner connects to on a server to create or drop another (every PostgreSQL server has it). */
export const MAINTENANCE_DATABASE = 'postgres';

/** The owner's connection ShardInspector.as hands over (no raw client is imported outside platform/db). */
type Client = Parameters<Parameters<ShardInspector['as']>[2]>[0];

/** A server: where a database is created. */
export interface DbServer {
  host: string;
  port: number;
}

/** What the platform writes on a database it creates for a tenant (its COMMENT): which tenant, which run. */
export interface DedicatedMarker {
  tenantId: string;
  runId: string;
}

const MARKER = /^hotdash:dedicated tenant=([0-9a-f-]{36}) run=([0-9a-f-]{36})$/;

export const markerText = (m: DedicatedMarker): string => `hotdash:dedicated tenant=${m.tenantId} run=${m.runId}`;

export function parseMarker(comment: string | null | undefined): DedicatedMarker | null {
  const m = comment ? MARKER.exec(comment) : null;
  return m ? { tenantId: m[1]!, runId: m[2]! } : null;
}

/** A database on a server as the owner sees it: whose it is (its owning role) and the platform's marker, if any. */
export type DatabaseFacts = { exists: false } | { exists: true; owner: string; marker: DedicatedMarker | null };

/** The name checked again where it goes into a statement (it was checked by the contract already). */
function databaseName(name: string): string {
  if (!DEDICATED_DATABASE_NAME.test(name)) throw new Error(`not a database name the platform creates: ${name}`);
  return name;
}

/**
 * The databases of dedicated shards on their servers, as the platform's owner role (the role that
 * migrates shards; creating a database needs CREATEDB on that server, which deploy/local gives it).
 * The platform marks a database it creates with a COMMENT naming the tenant and the run, so that a
 * retry recognises its own database (and reuses it) and a database it did not make is never used or
 * dropped. Each call opens its own short-lived connection (ShardInspector.as: bounded connect time).
 */
@Injectable()
export class DedicatedDatabases {
  constructor(
    @Inject(ShardInspector) private readonly inspector: ShardInspector,
    @Inject(PLATFORM_CONFIG) private readonly config: PlatformConfig,
  ) {}

  private onServer<T>(server: DbServer, fn: (c: Client) => Promise<T>): Promise<T> {
    return this.inspector.as({ host: server.host, port: server.port, database: MAINTENANCE_DATABASE }, 'owner', fn);
  }

  /** Whether the database exists, who owns it and whether the platform marked it. */
  facts(server: DbServer, database: string): Promise<DatabaseFacts> {
    return this.onServer(server, async (c) => {
      const r = await c.query<{ owner: string; comment: string | null }>(
        `select pg_get_userbyid(d.datdba) as owner, shobj_description(d.oid, 'pg_database') as comment from pg_database d where d.datname = $1`,
        [database],
      );
      const row = r.rows[0];
      return row ? { exists: true, owner: row.owner, marker: parseMarker(row.comment) } : { exists: false };
    });
  }

  /** Whether the owner role may create databases on the server (CREATEDB, or a superuser). */
  canCreate(server: DbServer): Promise<boolean> {
    return this.onServer(server, async (c) => (await c.query<{ ok: boolean }>('select (rolcreatedb or rolsuper) as ok from pg_roles where rolname = current_user')).rows[0]?.ok === true);
  }

  /** The owner role's name on the servers (the configuration's). */
  get ownerRole(): string {
    return this.config.db.owner.user;
  }

  /**
   * Creates the database (owned by the owner role) and marks it. Not in one transaction (CREATE
   * DATABASE cannot be): a crash between the two leaves an unmarked, empty database of the owner,
   * which the retry of the same run recognises (isEmpty) and marks.
   */
  async create(server: DbServer, database: string, marker: DedicatedMarker): Promise<void> {
    await this.onServer(server, async (c) => {
      await c.query(`create database ${c.escapeIdentifier(databaseName(database))}`);
      await c.query(`comment on database ${c.escapeIdentifier(databaseName(database))} is ${c.escapeLiteral(markerText(marker))}`);
    });
  }

  async mark(server: DbServer, database: string, marker: DedicatedMarker): Promise<void> {
    await this.onServer(server, (c) => c.query(`comment on database ${c.escapeIdentifier(databaseName(database))} is ${c.escapeLiteral(markerText(marker))}`));
  }

  /** Whether the database holds no relation of its own in schema public (a database just created). */
  isEmpty(location: DbLocation): Promise<boolean> {
    return this.inspector.as(location, 'owner', async (c) => (await c.query<{ n: number }>(`select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace`)).rows[0]!.n === 0);
  }

  /**
   * Prepares the database for the platform's service roles as deploy/local prepares its shards:
   * schema public closed to PUBLIC, its use (not CREATE) granted to the application and relay roles.
   * Idempotent. The register-shard checks verify the result.
   */
  async prepare(location: DbLocation): Promise<void> {
    const { app, relay } = this.config.db;
    await this.inspector.as(location, 'owner', async (c) => {
      await c.query('revoke all on schema public from public');
      await c.query(`grant usage on schema public to ${c.escapeIdentifier(app.user)}, ${c.escapeIdentifier(relay.user)}`);
    });
  }

  /**
   * Drops the database (as its owner). Refused by PostgreSQL while another session uses it (a relay
   * not yet told the shard is retired): the caller retries. Only called for a database the caller
   * made and found empty of its tenant.
   */
  async drop(server: DbServer, database: string): Promise<void> {
    await this.onServer(server, (c) => c.query(`drop database if exists ${c.escapeIdentifier(databaseName(database))}`));
  }
}
