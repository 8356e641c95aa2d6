/**
 * Registers the typed search attributes the workflows set (src/common/search-attributes.ts) on a
 * namespace of a Temporal server that is not the dev server (which takes them as flags). Check then
 * act: attributes already registered with the same type are left alone, one registered with another
 * type is an error that names it (the server would refuse every run that sets it).
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../common/search-attributes';

const INDEXED_VALUE_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/** Returns the names it added (empty when all were there). */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const custom = existing.customAttributes ?? {};
  const missing: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of SEARCH_ATTRIBUTE_DEFINITIONS) {
    const wanted = INDEXED_VALUE_TYPE[key.type];
    if (wanted === undefined)
      throw new Error(`search attribute ${key.name}: no indexed type for ${key.type}`);
    const have = custom[key.name];
    if (have === undefined) missing[key.name] = wanted;
    else if (have !== wanted) {
      throw new Error(
        `search attribute ${key.name} is registered on namespace ${namespace} as ` +
          `${temporal.api.enums.v1.IndexedValueType[have]}, not ${key.type}`,
      );
    }
  }
  const names = Object.keys(missing);
  if (names.length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  }
  return names;
}
