/** JSON Schema of an Open Inference Protocol inference request (structure only; data is checked against the model). */
export const inferRequestSchema = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    parameters: { type: 'object' },
    inputs: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype', 'data'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', maxItems: 16, items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string' },
          parameters: { type: 'object' },
          data: {},
        },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, parameters: { type: 'object' } },
      },
    },
  },
} as const;
