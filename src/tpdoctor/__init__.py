"""tpdoctor: make multi-GPU tensor parallel work in containers without `privileged: true`."""

__version__ = "0.1.0"
