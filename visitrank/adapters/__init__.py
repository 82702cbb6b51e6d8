"""Adapters: where the contract tables come from (files, SQL Server) and where results go (the
local stage folder, Blob, Cosmos), and the Function app settings that configure them."""
