/**
 * The response schema of every paginated list: `{items, total, page, per_page}`,
 * plus any extra top-level properties a list needs (e.g. a `kamailio_error`).
 */
export function pageSchema<Item extends object, Extra extends Record<string, object> = Record<never, never>>(
  item: Item,
  extra?: Extra,
) {
  return {
    type: 'object',
    properties: {
      items: { type: 'array', items: item },
      total: { type: 'integer', minimum: 0 },
      page: { type: 'integer', minimum: 1 },
      per_page: { type: 'integer', minimum: 1 },
      ...(extra ?? ({} as Extra)),
    },
    required: ['items', 'total', 'page', 'per_page'],
    additionalProperties: false,
  } as const;
}

/** The most items one page of a list returns. */
export const MAX_PER_PAGE = 200;

/** The query of a plain paginated list: `?page=&per_page=`. */
export const LIST_QUERY_SCHEMA = {
  type: 'object',
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    per_page: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE, default: 50 },
  },
  additionalProperties: false,
} as const;

export interface ListQuery {
  readonly page: number;
  readonly per_page: number;
}
