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
