import { newId, nowIso } from '../clock.js';
import type { ArtifactsRepository } from '../db/artifacts.repo.js';
import type { ModelsRepository } from '../db/models.repo.js';
import type { ArtifactRow, ModelRepoRow } from '../db/schema.js';
import { Conflict, NotFound } from '../errors.js';
import { type BlobStore, metadataFolder } from '../store/blob-store.js';
import type { JobsService } from './jobs.service.js';
import { checkUpstream, type RegisterCheck } from './register-check.js';
import { assertNamePart, assertRepoId } from './repo-id.js';
import { assertRevision } from './revision.js';

export interface RegisterInput {
  vendor: string;
  name: string;
  sourceRepoId: string;
  revision: string;
  autoSync: boolean;
  /** Ask upstream first whether the repo exists at `revision` and can be read (default true). */
  verify?: boolean;
}

export class RegistryService {
  constructor(
    private readonly models: ModelsRepository,
    private readonly artifacts: ArtifactsRepository,
    private readonly jobs: JobsService,
    private readonly store: BlobStore,
    /** How registering asks upstream; without it nothing is checked. */
    private readonly upstream?: RegisterCheck,
  ) {}

  async registerRepo(input: RegisterInput): Promise<{ model: ModelRepoRow; syncJobId?: string }> {
    assertNamePart('vendor', input.vendor);
    assertNamePart('name', input.name);
    assertRepoId('source_repo_id', input.sourceRepoId);
    assertRevision('revision', input.revision);
    if (await this.models.findByRepoId(input.sourceRepoId)) {
      throw new Conflict('REPO_ALREADY_REGISTERED', `Repository ${input.sourceRepoId} is already registered`);
    }
    if (this.upstream && input.verify !== false) {
      await checkUpstream(this.upstream, input.sourceRepoId, input.revision);
    }
    const at = nowIso();
    let model: ModelRepoRow;
    try {
      model = await this.models.insert({
        id: newId(),
        vendor: input.vendor,
        name: input.name,
        repoId: input.sourceRepoId,
        revision: input.revision,
        commitSha: null,
        status: 'registered',
        error: null,
        lastSyncedAt: null,
        createdAt: at,
        updatedAt: at,
      });
    } catch (error) {
      if (await this.models.findByRepoId(input.sourceRepoId)) {
        throw new Conflict(
          'REPO_ALREADY_REGISTERED',
          `Repository ${input.sourceRepoId} is already registered`,
        );
      }
      throw error;
    }
    if (!input.autoSync) return { model };
    const { job } = await this.jobs.requestSyncFor(model);
    return { model, syncJobId: job.id };
  }

  async listModels(): Promise<ModelRepoRow[]> {
    return this.models.list();
  }

  async getModel(id: string): Promise<ModelRepoRow> {
    const model = await this.models.findById(id);
    if (!model) throw new NotFound('REPO_NOT_FOUND', `Model ${id} not found`);
    return model;
  }

  /** Pinned models keep their blobs when the store must shrink to its quota. */
  async setPinned(id: string, pinned: boolean): Promise<ModelRepoRow> {
    const at = nowIso();
    const current = await this.getModel(id);
    const pinnedAt = pinned ? (current.pinnedAt ?? at) : null;
    const model = await this.models.setPinned(id, pinnedAt, at);
    if (!model) throw new NotFound('REPO_NOT_FOUND', `Model ${id} not found`);
    return model;
  }

  /**
   * Forgets the model, its artifacts and its metadata folder. Its blobs stay (other models may share them) unless
   * `purge`: then a gc job collects those that nothing references any more.
   */
  async deleteModel(id: string, purge: boolean): Promise<{ model: ModelRepoRow; gcJobId: string | null }> {
    const model = await this.getModel(id);
    const blobs = purge ? await this.artifacts.completedSha256OfModel(id) : [];
    if (!(await this.models.delete(id))) throw new NotFound('REPO_NOT_FOUND', `Model ${id} not found`);
    // Its metadata folder is its own (one per repo id): links and copies only, blobs keep the bytes.
    await this.store.removeMetadataFolder(metadataFolder(model.repoId));
    if (!purge || blobs.length === 0) return { model, gcJobId: null };
    const { job } = await this.jobs.requestBlobCollection(blobs);
    return { model, gcJobId: job.id };
  }

  async listArtifacts(modelId: string): Promise<ArtifactRow[]> {
    await this.getModel(modelId);
    return this.artifacts.listByModel(modelId);
  }
}
