// visitrank on Azure: Flex Consumption Function App (Python 3.11) with a system-assigned managed
// identity, Storage (host + staging, shared keys off), Cosmos DB (rep documents, /repId, TTL),
// Key Vault (SQL connection string), Application Insights + Log Analytics, and the role
// assignments the identity needs. No account keys in app settings: every service is reached by
// identity; the only secret (the ERP's ODBC connection string) is a Key Vault reference.
//
// Policy scan: `make checkov` (checkov --framework bicep). Each suppressed check carries its
// reason in a `checkov:skip` comment inside the resource it concerns.

targetScope = 'resourceGroup'

@description('Short name used to derive resource names (3-11 lowercase letters/digits).')
@minLength(3)
@maxLength(11)
param appName string = 'visitrank'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('ODBC connection string of the ERP database (ODBC Driver 18 for SQL Server). Stored in Key Vault only.')
@secure()
param sqlConnectionString string

@description('NCRONTAB of the weekly run, in UTC (Flex Consumption ignores WEBSITE_TIME_ZONE).')
param schedule string = '0 0 5-23 * * 1'

@description('Who reads the lists and orders: key (any function-key holder, a trusted CRM back end) or principal (the App Service Authentication caller: role Visitrank.ReadAll, or its visitrank_rep claims). principal needs Authentication configured on the app.')
@allowed([ 'key', 'principal' ])
param readAccess string = 'key'

@description('The run configuration as JSON, one object per section (scoring, orders, segmentation); the same fields as a --config file. Empty: the documented defaults.')
param runConfig string = '{}'

@description('Days the rep documents live in Cosmos DB before the container TTL removes them.')
@minValue(7)
param documentTtlDays int = 120

@description('Days the per-run staging Parquet stays in Blob before the lifecycle rule deletes it.')
@minValue(1)
param stagingRetentionDays int = 14

@description('Days a run\'s segmentation exports (segments/<runId>/) stay in Blob; segments/latest and the tags are never deleted.')
@minValue(7)
param segmentExportRetentionDays int = 56

@description('Days the kept week scores (scores/history/, read by the proposed orders\' calibration 8 weeks later) stay in Blob.')
@minValue(63)
param keptScoresRetentionDays int = 182

@description('Maximum instances of the Flex Consumption app.')
@minValue(1)
param maximumInstanceCount int = 40

@description('Instance memory (MB): scoring a region is CPU and memory bound.')
@allowed([2048, 4096])
param instanceMemoryMB int = 4096

@description('Private networking (off when empty): the subnet the Function app integrates with (Flex Consumption: delegated to Microsoft.App/environments). Needs privateEndpointSubnetId too.')
param appSubnetId string = ''

@description('Private networking (off when empty): the subnet of the private endpoints of Storage (blob, queue, table), Cosmos DB and Key Vault; their public network access is then disabled.')
param privateEndpointSubnetId string = ''

@description('Private DNS zone resource ids by endpoint (keys blob, queue, table, cosmos, vault; e.g. privatelink.blob.core.windows.net); an endpoint without one gets no zone group.')
param privateDnsZoneIds object = {}

@description('Diagnostic settings of the Function app, Storage (blob), Cosmos DB and Key Vault into the Log Analytics workspace (off by default: cost).')
param diagnostics bool = false

var suffix = uniqueString(resourceGroup().id, appName)
var privateNetwork = !empty(appSubnetId) && !empty(privateEndpointSubnetId)
var publicAccess = privateNetwork ? 'Disabled' : 'Enabled'
var defaultNetworkAction = privateNetwork ? 'Deny' : 'Allow'
var storageName = take('st${appName}${suffix}', 24)
var stagingContainer = 'visitrank-staging'
var packageContainer = 'app-package'
var cosmosDatabase = 'visitrank'
var cosmosContainer = 'visit-lists'
var taskHub = 'visitrank'

// Built-in role definition ids.
var roleBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var roleQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var roleTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var roleKeyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var roleMonitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${appName}-${suffix}'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${appName}-${suffix}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    //checkov:skip=CKV_AZURE_35:Default network rule Allow: Flex Consumption without VNet integration reaches storage over its public endpoint; access is by Entra identity only (shared keys off).
    //checkov:skip=CKV_AZURE_43:Naming: the name is st + appName + uniqueString, cut to 24 lowercase letters and digits; the check cannot evaluate the expression.
    allowSharedKeyAccess: false
    //checkov:skip=CKV_AZURE_59:Public network access: on by default (Flex Consumption without VNet integration reaches storage over its public endpoint; Entra identity only, shared keys off); disabled when appSubnetId and privateEndpointSubnetId are set.
    //checkov:skip=CKV_AZURE_206:Replication: staging and task hub data are transient; LRS is enough.
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: publicAccess
    networkAcls: {
      defaultAction: defaultNetworkAction
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource staging 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stagingContainer
  properties: { publicAccess: 'None' }
}

resource package 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainer
  properties: { publicAccess: 'None' }
}

// The run never deletes its staging folder: this rule does, so a failed run stays inspectable.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-staging-runs'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${stagingContainer}/runs/' ]
            }
            actions: {
              baseBlob: {
                delete: { daysAfterModificationGreaterThan: stagingRetentionDays }
              }
            }
          }
        }
        {
          // every run id starts with visitrank- (the week's, a dry run's, a rerun's): the
          // exports of old runs go, segments/latest (the next run's start) and tags stay
          name: 'delete-segment-exports'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${stagingContainer}/segments/visitrank-' ]
            }
            actions: {
              baseBlob: {
                delete: { daysAfterModificationGreaterThan: segmentExportRetentionDays }
              }
            }
          }
        }
        {
          // each run keeps its regions' week scores for the orders' calibration weeks later
          name: 'delete-kept-scores'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${stagingContainer}/scores/history/' ]
            }
            actions: {
              baseBlob: {
                delete: { daysAfterModificationGreaterThan: keptScoresRetentionDays }
              }
            }
          }
        }
      ]
    }
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: 'cosmos-${appName}-${suffix}'
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    //checkov:skip=CKV_AZURE_99:Public network access: on by default (no VNet; data-plane access needs an Entra token, disableLocalAuth); disabled with the private networking parameters.
    //checkov:skip=CKV_AZURE_101:Public network access: see CKV_AZURE_99.
    //checkov:skip=CKV_AZURE_140:Local (key) auth is disabled (disableLocalAuth true).
    databaseAccountOfferType: 'Standard'
    publicNetworkAccess: publicAccess
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    capabilities: [ { name: 'EnableServerless' } ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
  }
}

resource cosmosDb 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: cosmos
  name: cosmosDatabase
  properties: {
    resource: { id: cosmosDatabase }
  }
}

resource cosmosLists 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: cosmosDb
  name: cosmosContainer
  properties: {
    resource: {
      id: cosmosContainer
      partitionKey: {
        paths: [ '/repId' ]
        kind: 'Hash'
      }
      defaultTtl: documentTtlDays * 86400
    }
  }
}

// Segment summaries for the CRM's outlet card: `segment:<id>` and `outlet:<customerId>` documents
resource cosmosSegments 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: cosmosDb
  name: 'segments'
  properties: {
    resource: {
      id: 'segments'
      partitionKey: {
        paths: [ '/pk' ]
        kind: 'Hash'
      }
      defaultTtl: documentTtlDays * 86400
    }
  }
}

// Proposed orders per customer (GET /api/customers/{customerId}/order)
resource cosmosOrders 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: cosmosDb
  name: 'orders'
  properties: {
    resource: {
      id: 'orders'
      partitionKey: {
        paths: [ '/customerId' ]
        kind: 'Hash'
      }
      defaultTtl: documentTtlDays * 86400
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('kv-${appName}-${suffix}', 24)
  location: location
  properties: {
    //checkov:skip=CKV_AZURE_109:Public network access: on by default (the Flex app resolves the Key Vault reference without VNet integration; RBAC only); disabled with the private networking parameters.
    //checkov:skip=CKV_AZURE_189:Public network access: see CKV_AZURE_109.
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicAccess
    networkAcls: {
      defaultAction: defaultNetworkAction
      bypass: 'AzureServices'
    }
  }
}

resource sqlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'sql-connection-string'
  properties: {
    //checkov:skip=CKV_AZURE_41:Expiry: the ERP credential is rotated by its owner, not on a fixed date.
    value: sqlConnectionString
    contentType: 'text/plain'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${appName}-${suffix}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    //checkov:skip=CKV_AZURE_225:Zone redundancy: a weekly batch that can be rerun; Flex Consumption zone redundancy needs a supported region and is a deployment choice.
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${appName}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    //checkov:skip=CKV_AZURE_222:Public network access: the run API is called by operators with a function key.
    //checkov:skip=CKV_AZURE_17:Client certificates: callers authenticate with function keys.
    //checkov:skip=CKV_AZURE_212:Minimum instances: Flex Consumption scales from zero; a weekly batch needs no warm standby.
    //checkov:skip=CKV_AZURE_213:Health check: not available for a scale-to-zero Flex Consumption batch app.
    serverFarmId: plan.id
    virtualNetworkSubnetId: privateNetwork ? appSubnetId : null
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${packageContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'VISITRANK_TASK_HUB', value: taskHub }
        { name: 'VISITRANK_SCHEDULE', value: schedule }
        { name: 'VISITRANK_READ_ACCESS', value: readAccess }
        { name: 'VISITRANK_CONFIG', value: runConfig }
        { name: 'VISITRANK_SQL_CONNECTION_STRING', value: '@Microsoft.KeyVault(SecretUri=${sqlSecret.properties.secretUri})' }
        { name: 'VISITRANK_BLOB_ACCOUNT_URL', value: storage.properties.primaryEndpoints.blob }
        { name: 'VISITRANK_STAGING_CONTAINER', value: stagingContainer }
        { name: 'VISITRANK_COSMOS_ENDPOINT', value: cosmos.properties.documentEndpoint }
        { name: 'VISITRANK_COSMOS_DATABASE', value: cosmosDatabase }
        { name: 'VISITRANK_COSMOS_CONTAINER', value: cosmosContainer }
        { name: 'VISITRANK_COSMOS_ORDERS_CONTAINER', value: cosmosOrders.name }
        { name: 'VISITRANK_COSMOS_SEGMENTS_CONTAINER', value: cosmosSegments.name }
      ]
    }
  }
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, app.id, roleBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleBlobDataOwner)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Durable Functions keeps its task hub in queues and tables of the same account.
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, app.id, roleQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleQueueDataContributor)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, app.id, roleTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleTableDataContributor)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, roleKeyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleKeyVaultSecretsUser)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, roleMonitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleMonitoringMetricsPublisher)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB data-plane RBAC: "Cosmos DB Built-in Data Contributor" on the account.
resource cosmosWriter 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, app.id, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: app.identity.principalId
    scope: cosmos.id
  }
}

// Private endpoints (only with private networking): the app reaches its data over the VNet.
var privateTargets = [
  { name: 'blob', id: storage.id, group: 'blob' }
  { name: 'queue', id: storage.id, group: 'queue' }
  { name: 'table', id: storage.id, group: 'table' }
  { name: 'cosmos', id: cosmos.id, group: 'Sql' }
  { name: 'vault', id: vault.id, group: 'vault' }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [for target in privateTargets: if (privateNetwork) {
  name: 'pe-${appName}-${target.name}-${suffix}'
  location: location
  properties: {
    subnet: { id: privateEndpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: target.name
        properties: {
          privateLinkServiceId: target.id
          groupIds: [ target.group ]
        }
      }
    ]
  }
}]

resource privateDnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (target, i) in privateTargets: if (privateNetwork && contains(privateDnsZoneIds, target.name)) {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: target.name
        properties: { privateDnsZoneId: privateDnsZoneIds[target.name] }
      }
    ]
  }
}]

// Diagnostic settings (opt-in): every service's logs into the app's Log Analytics workspace.
resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (diagnostics) {
  name: 'to-log-analytics'
  scope: app
  properties: {
    workspaceId: logs.id
    logs: [ { category: 'FunctionAppLogs', enabled: true } ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (diagnostics) {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: logs.id
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}

resource cosmosDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (diagnostics) {
  name: 'to-log-analytics'
  scope: cosmos
  properties: {
    workspaceId: logs.id
    logs: [ { category: 'DataPlaneRequests', enabled: true } ]
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (diagnostics) {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logs.id
    logs: [ { category: 'AuditEvent', enabled: true } ]
  }
}

output functionAppName string = app.name
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output stagingContainer string = stagingContainer
output keyVaultName string = vault.name
