import type { FastifyInstance } from 'fastify';

/**
 * Discovery (Image API 2.6, 2.8, 2.15): the import methods this cloud offers and its stores. One
 * file store holds every image, so `copy-image` (copying between stores) cannot do anything and
 * is not offered, nor `web-download` (the API would fetch URLs a user names).
 */
export const IMPORT_METHODS = ['glance-direct'] as const;
export const STORE_ID = 'file';

export function registerInfoRoutes(app: FastifyInstance): void {
  app.get('/v2/info/import', { config: { policy: 'get_info' } }, async () => ({
    'import-methods': { description: 'Import methods available.', type: 'array', value: [...IMPORT_METHODS] },
  }));
  app.get('/v2/info/stores', { config: { policy: 'get_info' } }, async () => ({
    stores: [{ id: STORE_ID, description: 'The file store of this cloud (every image is here).', default: true }],
  }));
  app.get('/v2/info/stores/detail', { config: { policy: 'stores_info_detail' } }, async () => ({
    // The directory is not shown: it would tell a client about the API host's file system.
    stores: [{ id: STORE_ID, description: 'The file store of this cloud (every image is here).', default: true, type: 'file', weight: 0, properties: {} }],
  }));
}
