"""The Function app's HTTP and timer functions: start a weekly run, read its status, read a
rep's week and a customer's proposed order."""
