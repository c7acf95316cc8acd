"""What every rule-data admin shares (agreements for §30D, material_assistance
for §45X): a change to a rule row asks for its reason and its source, keeps
both in the row's history, and appends the ledger's `rules` entry in the
same transaction (contract §12). It sits below both rule apps, which may
not import each other, and above nothing but Django: the ledger is reached
through the settings CAIRN_RULE_DATA_READER and CAIRN_RULE_CHANGE_RECORDER.
"""
