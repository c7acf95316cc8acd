from django.apps import AppConfig


class MaterialAssistanceConfig(AppConfig):
    name = "material_assistance"
    verbose_name = "§45X material assistance rules"
