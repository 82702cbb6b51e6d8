"""The weekly job's steps over typed inputs and outputs: region inputs from clean tables, the
fan-in, documents, proposed orders, segments, the run's status. No files, SQL, Blob or Cosmos
here (those are adapters); both drivers, the local run and the Durable app, call these steps."""
