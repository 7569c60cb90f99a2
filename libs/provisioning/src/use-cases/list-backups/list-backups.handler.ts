import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ArchiveList, ArchiveSummary } from '@hotdash/contracts';
import { ArchiveStore } from '../../backups/archive-store';
import { parseManifest, summaryOf } from '../../backups/archive-format';

/**
 * The archives in the archive store (one tenant's, or all), oldest first, from their manifests.
 * A manifest this build cannot read is left out of the list and logged (a restore of it would be
 * refused as archive-corrupt).
 */
@Injectable()
export class ListBackupsHandler {
  private readonly logger = new Logger('backups');

  constructor(@Inject(ArchiveStore) private readonly store: ArchiveStore) {}

  async execute(tenantId?: string): Promise<ArchiveList> {
    const archives: ArchiveSummary[] = [];
    for (const { id, manifest } of await this.store.list(tenantId)) {
      try {
        archives.push(summaryOf(parseManifest(manifest, id)));
      } catch (err) {
        this.logger.warn(`archive ${id} left out of the list: ${(err as Error).message}`);
      }
    }
    return { archives };
  }
}
