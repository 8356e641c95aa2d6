import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const NksCluster = defineSearchAttributeKey('NksCluster', SearchAttributeType.KEYWORD);
export const NksProcedure = defineSearchAttributeKey('NksProcedure', SearchAttributeType.KEYWORD);
export const NksPhase = defineSearchAttributeKey('NksPhase', SearchAttributeType.KEYWORD);
export const NksDryRun = defineSearchAttributeKey('NksDryRun', SearchAttributeType.BOOL);

/** For `temporal server start-dev --search-attribute` and TestWorkflowEnvironment.createLocal. */
export const SEARCH_ATTRIBUTE_DEFINITIONS = [NksCluster, NksProcedure, NksPhase, NksDryRun];
